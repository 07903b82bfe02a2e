"""The .pyi stubs name every parameter of the new functions with the runtime's defaults (which come from the
library constants)."""
import ast
import inspect
import pathlib

import pytest

import imanifold
from imanifold import classifier

PKG = pathlib.Path(imanifold.__file__).parent


def stub_defaults(stub, name):
    tree = ast.parse((PKG / stub).read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    args = fn.args.args
    defaults = [None] * (len(args) - len(fn.args.defaults)) + fn.args.defaults
    out = {}
    for a, d in zip(args, defaults):
        out[a.arg] = inspect.Parameter.empty if d is None else (
            ... if isinstance(d, ast.Constant) and d.value is Ellipsis else ast.literal_eval(d))
    return out


@pytest.mark.parametrize("stub,module,name", [
    ("__init__.pyi", imanifold, "geodesic"), ("__init__.pyi", imanifold, "render"),
    ("classifier.pyi", classifier, "train"), ("classifier.pyi", classifier, "evaluate"),
    ("classifier.pyi", classifier, "fool"), ("classifier.pyi", classifier, "attack")])
def test_stub_matches_runtime(stub, module, name):
    runtime = {p.name: p.default for p in inspect.signature(getattr(module, name)).parameters.values()}
    stubbed = stub_defaults(stub, name)
    assert list(stubbed) == list(runtime)
    for key, value in stubbed.items():
        if value is ...:
            continue
        want = runtime[key]
        assert value == want or (isinstance(value, float) and abs(value - want) < 1e-6 * abs(value)), key
