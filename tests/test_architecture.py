"""The package's import picture (nbs/07_architecture.ipynb): declared layers, no circle, no upward arrow; no module
over the size limit without a reason, and no reason kept for a module that is no longer long.

Reads every module of mhhs_ref with `ast` (module-level and function-level imports) and checks them against
`mhhs_ref.architecture.LAYERS`; then shows on small made-up packages that a circle, an upward arrow and a module
without a layer are each caught.
"""

import textwrap

import pytest

from mhhs_ref.architecture import (
    LAYERS,
    LONG_MODULES,
    MODULE_LINE_LIMIT,
    check_layers,
    circles,
    layer,
    layer_picture,
    long_modules_without_reason,
    module_imports,
    module_sizes,
    stale_size_reasons,
    upward,
)
from mhhs_ref.design import verifies


def test_package_has_no_circle_and_no_upward_arrow():
    with verifies('REF-LAYERS'):
        assert check_layers() == []


def test_every_module_has_a_layer():
    edges = module_imports()
    for m in {m for e in edges for m in e}:
        assert 0 <= layer(m) < len(LAYERS)


def test_registration_and_metering_no_longer_form_a_circle():
    edges = module_imports()
    assert not [g for g in circles(edges) if any('registration' in m or 'metering' in m for m in g)]


def _package(tmp_path, files: dict[str, str]):
    root = tmp_path / 'mhhs_ref'
    for name, text in {'__init__.py': '', **files}.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


@pytest.mark.parametrize(
    'files, problem',
    [
        (  # a lazy import inside a function still closes a circle
            {'registration.py': 'from .css import x\n', 'css.py': 'def f():\n    from mhhs_ref.registration import y'},
            'import circle: mhhs_ref.css → mhhs_ref.registration',
        ),
        ({'core.py': 'from mhhs_ref.processes import Market\n', 'processes.py': ''}, 'a higher layer'),
        ({'gadgets.py': 'from .core import x\n', 'core.py': ''}, 'has no layer'),
        (  # a submodule importing its own package's __init__, which imports it back
            {'dip/__init__.py': 'from .hub import x\n', 'dip/hub.py': 'from mhhs_ref.dip import y\n'},
            'import circle: mhhs_ref.dip → mhhs_ref.dip.hub',
        ),
    ],
)
def test_problems_are_caught(tmp_path, files, problem):
    with verifies('REF-LAYERS'):
        found = check_layers(_package(tmp_path, files))
        assert any(problem in p for p in found), found


def test_relative_and_submodule_imports_resolve(tmp_path):
    root = _package(
        tmp_path,
        {
            'data_services/__init__.py': '',
            'data_services/processing.py': 'from ..core import x\n',
            'sandbox.py': 'from .data_services import processing as dp\n',
            'core.py': '',
        },
    )
    edges = module_imports(root)
    assert ('mhhs_ref.data_services.processing', 'mhhs_ref.core') in edges
    assert ('mhhs_ref.sandbox', 'mhhs_ref.data_services.processing') in edges
    assert upward(edges) == []


def test_picture_has_every_layer():
    pic = layer_picture()
    for i, (name, _) in enumerate(LAYERS):
        assert f'subgraph L{i}["{i} {name}"]' in pic


def test_no_long_module_without_a_reason():
    with verifies('ASM-MODULE-SIZE'):
        assert long_modules_without_reason() == []


def test_every_size_reason_is_still_true():
    "A reason in LONG_MODULES for a module that was split or shrank is stale: remove it (nbs/07_architecture.ipynb)."
    with verifies('ASM-MODULE-SIZE'):
        assert stale_size_reasons() == []


def test_size_rule_on_a_made_up_package(tmp_path):
    root = _package(tmp_path, {'big.py': 'x = 1\n' * (MODULE_LINE_LIMIT + 1), 'dip/hub.py': 'y = 2\n', 'core.py': ''})
    with verifies('ASM-MODULE-SIZE'):
        assert module_sizes(root)['big'] == MODULE_LINE_LIMIT + 1 and module_sizes(root)['dip.hub'] == 1
        assert long_modules_without_reason(root) == [f'big ({MODULE_LINE_LIMIT + 1} lines)']
        assert long_modules_without_reason(root, reasons={'big': 'one table'}) == []
        assert stale_size_reasons(root, reasons={'big': 'one table', 'dip.hub': 'was long'}) == ['dip.hub']
        assert all(why.strip() for why in LONG_MODULES.values())
