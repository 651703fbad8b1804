// A sandbox participant in Node.js, standard library only, written from the protocol page
// (https://mhhs-ref.github.io/mhhs_ref/participant_protocol.html). Roles: SUP, SDS, ADS, MSS and LDSO.
//   node participant.mjs SANDBOX_FOLDER            run as the participant until stopped (SIGTERM)
//   node participant.mjs --sign KEY.pem METHOD URL DATE BODY_FILE   print the signature headers (JSON) and exit
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

// --- signing: METHOD;url-lower-cased;date;content-hash, RSA PKCS#1 v1.5 with SHA-256, base64 ---
export function signHeaders(keyPem, certPem, method, url, date, body) {
  const hash = crypto.createHash('sha256').update(body).digest('base64');
  const text = `${method.toUpperCase()};${url.toLowerCase()};${date};${hash}`;
  const sig = crypto.sign('sha256', Buffer.from(text), { key: keyPem, padding: crypto.constants.RSA_PKCS1_PADDING });
  return {
    'X-DIP-Signature': sig.toString('base64'),
    'X-DIP-Signature-Date': date,
    'X-DIP-Content-Hash': hash,
    'X-DIP-Signature-Certificate': Buffer.from(certPem.replace(/\r\n/g, '\n')).toString('base64'),
  };
}

function verifyHeaders(certPem, method, url, headers, body) {
  const hash = crypto.createHash('sha256').update(body).digest('base64');
  if (hash !== headers['x-dip-content-hash']) return false;
  const text = `${method.toUpperCase()};${url.toLowerCase()};${headers['x-dip-signature-date']};${hash}`;
  return crypto.verify('sha256', Buffer.from(text), { key: certPem, padding: crypto.constants.RSA_PKCS1_PADDING },
    Buffer.from(headers['x-dip-signature'] || '', 'base64'));
}

if (process.argv[2] === '--sign') {
  const [keyFile, method, url, date, bodyFile] = process.argv.slice(3);
  const key = fs.readFileSync(keyFile, 'utf8');
  const cert = fs.readFileSync(keyFile.replace(/key\.pem$/, 'cert.pem'), 'utf8');
  console.log(JSON.stringify(signHeaders(key, cert, method, url, date, fs.readFileSync(bodyFile))));
  process.exit(0);
}

const folder = process.argv[2];
const info = JSON.parse(fs.readFileSync(path.join(folder, 'sandbox.json'), 'utf8'));
const key = fs.readFileSync(path.join(folder, info.key_file), 'utf8');
const cert = fs.readFileSync(path.join(folder, info.cert_file), 'utf8');
const dipCert = fs.readFileSync(path.join(folder, info.dip_cert_file), 'utf8');
const log = (...a) => console.error('[node participant]', ...a);

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, '+00:00');           // 25 characters, UTC
const today = () => new Date().toISOString().slice(0, 10).replace(/-/g, '');
const ref = (ch) => `S-${ch}-${info.dip_id}-${info.role}-${today()}-${crypto.randomBytes(8).toString('hex')}`;

function message(channel, event, m0, custom, correlation) {
  return { payload: { CommonBlock: {
    S0: { interfaceID: channel, schemaVersion: '011', eventCode: `[${event}]` },
    S1: { environmentTag: 'DEV', subText: null, senderUniqueReference: ref(channel), senderTimestamp: now(),
          senderDIPID: info.dip_id, senderRoleID: info.role, senderCorrelationID: correlation ?? null,
          DIPConnectionProviderID: null },
    M0: m0 }, CustomBlock: custom } };
}

async function request(method, p, payload) {
  const url = info.base_url + p;                 // the URL signed is the one connected to: same host, same port
  const body = Buffer.from(JSON.stringify(payload));
  const headers = { 'content-type': 'application/json', 'X-API-Key': info.api_key,
                    ...signHeaders(key, cert, method, url, new Date().toISOString(), body) };
  const r = await fetch(url, { method, headers, body });
  const text = await r.text();
  if (r.status >= 300) log(method, p, r.status, text.slice(0, 300));
  return r.status;
}
const send = (channel, msg) => request('POST', `/dip-channel/${channel}`, [msg]);

async function brief(id) {       // the scenario file is written before the scenario's first post; wait if need be
  const f = path.join(folder, `scenario-${id}.json`);
  for (let i = 0; i < 200 && !fs.existsSync(f); i++) await new Promise((r) => setTimeout(r, 50));
  return JSON.parse(fs.readFileSync(f, 'utf8'));
}

// --- the supplier: appoint a data and a metering service when Registration says we gain an MPAN ---
async function supplier(channel, msg) {
  if (channel !== 'IF-002') return;
  const cb = msg.payload.CommonBlock, b = await brief('sup-gain');
  const [ds, dsMpid] = Object.entries(b.providers.SDS)[0], [ms, msMpid] = Object.entries(b.providers.MSS)[0];
  const b013 = { CSSRegistrationID: msg.payload.CustomBlock.B013.CSSRegistrationID };
  const corr = cb.S1.senderCorrelationID;
  await send('IF-031', message('IF-031', 'DSApp', cb.M0, { B071: {
    proposedDataServiceDIPID: ds, proposedDataServiceMPID: dsMpid, proposedDataServiceDIPEffectiveFromDate: b.effective_from,
    contractReferenceDataService: null, appointmentScenario: 'COS', supplierNominatedMDRDIPID: null,
    supplierNominatedMDRMPID: null, supplierNominatedMDREffectiveFromDate: null, supplierProposedConsentGranularity: 'H',
    supplierProposedDomesticIndicator: true, traditionalFallBackReadFrequency: null }, B013: b013 }, corr));
  await send('IF-031', message('IF-031', 'MSApp', cb.M0, { B070: {
    proposedMeteringServiceDIPID: ms, proposedMeteringServiceMPID: msMpid,
    proposedMeteringServiceDIPEffectiveFromDate: b.effective_from, contractReferenceMeteringService: null,
    appointmentScenario: 'COS' }, B013: b013 }, corr));
}

// --- a data or metering service: answer appointment requests by contract; a data service submits a day too ---
const reads = {};          // MPAN -> { period end (ms) -> kWh text }
let idleTimer = null;
async function dataService(channel, msg) {
  const cb = msg.payload.CommonBlock, cu = msg.payload.CustomBlock || {};
  if (channel === 'IF-033') {
    const request = cb.S0.eventCode.slice(1, -1);                 // DSAppSPRequest or MSAppSPRequest
    const contract = request.startsWith('DS') ? (cu.B071 || {}).contractReferenceDataService
                                              : (cu.B070 || {}).contractReferenceMeteringService;
    const ok = contract === 'SANDBOX-OK';
    const custom = {};
    for (const k of ['B012', 'B013', 'B070', 'B071']) if (k in cu) custom[k] = cu[k];
    custom.B007 = { responseCode: ok ? 'A' : 'R', proposedAppointmentResponseCode: ok ? 'SP000' : 'SP002' };
    await send('IF-034', message('IF-034', request.replace('SPRequest', 'SPResponse'), cb.M0, custom,
                                 cb.S1.senderCorrelationID));
  } else if (channel === 'IF-027') {
    await amend(cb, cu);
  } else if (channel === 'IF-064') {
    const r = (reads[cb.M0.MPANCore] ??= {});
    for (const d of cu.B941List) for (const p of d.MDRConsumptionPeriods) r[Date.parse(p.sp)] = p.v;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(submitDay, 500);        // the day is complete when the MDR has gone quiet
  }
}

// --- BP016: restate a day we submitted (IF-028 A, a new IF-021 adding up to the revised total); else R DSCA001 ---
const held = {};           // `${MPAN}|${day}` -> { m0, b067, periods } as submitted
async function amend(cb, cu) {
  const mpan = cb.M0.MPANCore;
  for (const block of cu.B902List) for (const req of block.supplierConsumptionAmendmentRequests) {
    const day = req.consumptionAmendmentPeriodStartDate.slice(0, 10), h = held[`${mpan}|${day}`];
    const A0 = { primaryRecipients: [cb.S1.senderDIPID], secondaryRecipients: [], always: [] };
    const answer = message('IF-028', 'ConsumptionAmendment', cb.M0,
      { B902List: [{ MQID: block.MQID, supplierConsumptionAmendmentRequests: [req] }] }, cb.S1.senderCorrelationID);
    answer.payload.CommonBlock.A0 = A0;
    answer.payload.CommonBlock.R0 = h ? { responseCode: 'A', responseMessages: [] }
      : { responseCode: 'R', responseMessages: ['DSCA001 - Amendment wholly outside the data service\'s responsibility'] };
    await send('IF-028', answer);
    if (!h) continue;
    // the revised total in Wh, shared in the shape of what was submitted; the remainder to the first half-hours
    const total = Math.round(Number(req.grossRevisedConsumption) * 1000);
    const w = h.periods.map((p) => Math.max(0, Math.round(Number(p.v) * 1000)));
    const sum = w.reduce((a, v) => a + v, 0) || w.length, flat = w.every((v) => v === 0);
    const wh = w.map((v) => Math.floor(total * (flat ? 1 : v) / sum));
    for (let k = 0, left = total - wh.reduce((a, v) => a + v, 0); left > 0; k = (k + 1) % wh.length, left--) wh[k]++;
    const periods = h.periods.map((p, k) => ({ sp: p.sp, v: (wh[k] / 1000).toFixed(3), q: 'E3', e: '9', arc: req.arc }));
    await send('IF-021', message('IF-021', 'ActivePower', h.m0, { B044: { issuingDataServiceDIPID: info.dip_id },
      B067: h.b067, B900: { MQID: { measurementQuantityID: 'AI' }, settlementDayConsumptionPeriods: [{
        settlementDay: { settlementDayDate: `${day}T00:00:00+00:00`, periodDuration: 30 }, consumptionPeriods: periods }] } },
      null));
  }
}

// the day scenario whose MPANs were read: its scenario file names the day and every MPAN to submit
const submitted = new Set();
async function submitDay() {
  const read = new Set(Object.keys(reads));
  const b = fs.readdirSync(folder).filter((f) => /^scenario-.*\.json$/.test(f))
    .map((f) => JSON.parse(fs.readFileSync(path.join(folder, f), 'utf8')))
    .find((x) => x.day && x.mpans && !submitted.has(x.scenario) && Object.keys(x.mpans).some((m) => read.has(m)));
  if (!b) return;
  submitted.add(b.scenario);
  const start = Date.parse(`${b.day}T00:00:00Z`);
  for (const [mpan, m] of Object.entries(b.mpans)) {
    const got = reads[mpan] || {};
    const actual = Object.values(got).map(Number);
    const whole = actual.length === 0, off = m.energisation === 'D';
    // estimate: zero on a de-energised MPAN; else the day's mean of what was read, else 3650 kWh a year spread flat
    const est = off ? 0 : whole ? 3650 / 17520 : actual.reduce((a, v) => a + v, 0) / actual.length;
    const reason = off ? '7' : whole ? '4' : '2';
    const periods = [];
    for (let k = 1; k <= 48; k++) {
      const end = start + k * 30 * 60 * 1000, v = got[end];
      periods.push({ sp: new Date(end).toISOString().replace(/\.\d{3}Z$/, '+00:00'),
                     v: v ?? est.toFixed(3), q: v ? 'A' : 'E5', e: v ? null : reason, arc: null });
    }
    const m0 = { MPANCore: mpan, distributorDIPID: m.distributor_dip_id, GSPGroupID: m.gsp_group };
    const b067 = { connectionTypeIndicator: m.connection_type, connectionTypeEffectiveFromDate: '2000-01-01T00:00:00+00:00' };
    held[`${mpan}|${b.day}`] = { m0, b067, periods };
    await send('IF-021', message('IF-021', 'ActivePower', m0, {
      B044: { issuingDataServiceDIPID: info.dip_id },
      B067: b067,
      B900: { MQID: { measurementQuantityID: 'AI' }, settlementDayConsumptionPeriods: [{
        settlementDay: { settlementDayDate: `${b.day}T00:00:00+00:00`, periodDuration: 30 },
        consumptionPeriods: periods }] } }, null));
  }
}

// a distributor only takes what it is sent: the webhook below has already checked the DIP's signature and said 2xx
const distributor = async () => {};
const react = info.role === 'SUP' ? supplier : info.role === 'LDSO' ? distributor : dataService;
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const url = `http://${req.headers.host}${req.url}`;
    if (!verifyHeaders(dipCert, req.method, url, req.headers, body)) {
      log('webhook signature refused', req.url);
      res.writeHead(401).end();
      return;
    }
    const channel = req.url.split('/').pop();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');   // taken; the work follows
    for (const msg of JSON.parse(body)) react(channel, msg).catch((e) => log('error', e));
  });
});
server.listen(0, '127.0.0.1', async () => {
  const port = server.address().port;
  for (const ch of info.channels) {
    const status = await request('POST', `/dip-channel/${ch}/pubconfig/${info.dip_id}`,
                                 { callbackURL: `http://127.0.0.1:${port}/hook/${ch}` });
    if (status !== 201) log('pubconfig', ch, status);
  }
  log(`webhooks on port ${port} for ${info.channels.join(', ')}`);
});
process.on('SIGTERM', () => { server.close(); process.exit(0); });
