"""Rewrite settings.ini as a mirror of pyproject.toml (nbdev 3 reads only pyproject.toml).

Run after editing pyproject.toml:  .venv/bin/python tools/sync_settings.py
tests/test_project.py fails while the two disagree.
"""

import re, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    py = tomllib.loads((ROOT / 'pyproject.toml').read_text())
    proj, nb = py['project'], py['tool']['nbdev']
    version = re.search(r'__version__\s*=\s*"([^"]+)"', (ROOT / 'mhhs_ref' / '__init__.py').read_text()).group(1)
    s = {
        'repo': proj['name'],
        'lib_name': proj['name'],
        'version': version,
        'description': proj['description'],
        'min_python': proj['requires-python'].lstrip('>='),
        'license': proj['license'],
        'author': proj['authors'][0]['name'],
        'author_email': proj['authors'][0]['email'],
        'keywords': ' '.join(proj['keywords']),
        'git_url': proj['urls']['Repository'],
        'doc_url': proj['urls']['Documentation'],
        'requirements': ' '.join(proj['dependencies']),
        'dev_requirements': ' '.join(proj['optional-dependencies']['dev']),
        'console_scripts': ' '.join(f"{k}={v}" for k, v in proj['scripts'].items()),
    }
    s.update({k: str(v) for k, v in nb.items()})
    lines = [
        '# Mirror of pyproject.toml for tools that still read settings.ini. Do not edit: run tools/sync_settings.py.',
        '[DEFAULT]',
    ] + [f"{k} = {v}" for k, v in s.items()]
    (ROOT / 'settings.ini').write_text('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
