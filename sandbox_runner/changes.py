"""Kernel side: which variables a cell may have changed, decided cheaply and on the safe side.

Python keeps no "modified" flag on objects, and hashing every variable after every cell would cost
as much as pickling it. So a variable is a candidate for a new checkpoint when:
- the cell's code names it anywhere (any depth: loops, functions, comprehensions), except in
  positions that only read it: `len(df)`, `print(x)`, `df.shape`, `x + 1`, `df` as the displayed
  value. Passing it to a function, subscript or attribute stores, iterating it, assigning it to
  another name, calling a method on it: all candidates, with one exception that matters for big
  data: a direct method call without `inplace=` on a pandas object (`df.head()`, `df.groupby(..)`),
  which under pandas 3's copy-on-write cannot change it, except the few listed in
  `_PANDAS_MUTATORS`;
- a function or class defined in the namespace that the cell uses (directly or through other such
  functions, bounded) names it: `f()` may append to a global list;
- it is the same object as a candidate, is held one level inside a candidate container, or holds a
  candidate one level deep (so `a = lst; a.append(1)` re-saves `lst`, and `rows[0].append(1)`
  re-saves the list held by another variable);
- its binding changed since the last checkpoint (new name, or a different object: catches rebinding
  through code the scan cannot see);
- the cell uses exec/eval/globals/vars/locals or imports __main__: then every variable is.

Known limits (a missed in-place change is re-saved the next time the variable is a candidate, and
is lost only if the kernel dies first): mutation through a path more than one container level deep
that the cell does not name (`x = d["a"]["b"]` in one cell, `x.append(1)` in a later one);
mutation by a background thread or a callback after the cell ended; mutation by code in a workspace
module that reaches `__main__` itself; a read-only position whose `__len__`/`__repr__`/operator
methods mutate the object; an object freed and another one allocated at the same id() with the same
name, without the name appearing in the cell.
"""

import ast
import sys
import types
from typing import Any

# Builtins whose positional arguments are only read. Honoured only while the cell does not rebind
# them and the namespace does not shadow them.
_READING_CALLS = frozenset(
    {"len", "print", "repr", "str", "type", "isinstance", "id", "display", "bool", "callable"}
)
_ESCAPES = frozenset({"exec", "eval", "globals", "vars", "locals", "__main__"})
# pandas methods that change the object itself without an `inplace` argument (`pipe` hands the
# object to arbitrary code).
_PANDAS_MUTATORS = frozenset({"insert", "pop", "update", "pipe"})
# Never mutated in place, and shared freely (small ints, interned strings, the empty tuple): an
# identity match on one of these says nothing about aliasing.
IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), range, tuple, frozenset)
# Statements and patterns whose `name` attribute is a name they bind.
_BINDS_ITS_NAME = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.ExceptHandler,
    ast.MatchAs,
    ast.MatchStar,
)
_MAX_CODE_OBJECTS = 2_000
_MAX_CHILDREN = 10_000


class CellScan:
    # A plain class, not a dataclass: importing dataclasses would slow every kernel start.
    def __init__(self) -> None:
        self.names: set[str] = set()
        # Names used only as `name.method(...)` without inplace=: candidates unless pandas.
        self.method_calls: dict[str, set[str]] = {}
        # Top-level `def`/`class` statements of the cell: name -> source, to re-run on restore.
        self.defs: dict[str, str] = {}
        self.everything = False


def scan_cell(tree: ast.Module, code: str, namespace: dict[str, Any]) -> CellScan:
    scan = CellScan()
    parents: dict[ast.AST, ast.AST] = {}
    loads: list[ast.Name] = []
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loads.append(node)
                if node.id in _ESCAPES:
                    scan.everything = True
            else:
                scan.names.add(node.id)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            scan.names.update(node.names)
        elif isinstance(node, ast.alias):
            bound = node.asname or node.name.split(".")[0]
            scan.names.add(bound)
            scan.everything |= node.name == "__main__"
        elif isinstance(node, _BINDS_ITS_NAME):
            if node.name:  # `except E:` and `case _:` bind nothing
                scan.names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            scan.names.add(node.rest)
    reading_calls = _READING_CALLS - scan.names - namespace.keys()
    for name in loads:
        if _only_read(name, parents, reading_calls):
            continue
        method = _method_called(name, parents)
        if method is None:
            scan.names.add(name.id)
        else:
            scan.method_calls.setdefault(name.id, set()).add(method)
    for bound in scan.names & scan.method_calls.keys():
        del scan.method_calls[bound]
    lines = code.splitlines(keepends=True)
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = min([statement.lineno] + [d.lineno for d in statement.decorator_list])
            scan.defs[statement.name] = "".join(lines[first - 1 : statement.end_lineno])
    return scan


def _only_read(
    name: ast.Name, parents: dict[ast.AST, ast.AST], reading_calls: frozenset[str]
) -> bool:
    node: ast.AST = name
    parent = parents.get(node)
    # Climb `x.a[0].b` while each step only loads; a store or a call decides below.
    while (
        isinstance(parent, ast.Attribute | ast.Subscript)
        and parent.value is node
        and isinstance(parent.ctx, ast.Load)
    ):
        node, parent = parent, parents.get(parent)
    # A tuple or list literal only shown as the cell's value (`len(df), df.shape`) reads what it
    # holds; one bound or passed on is a new reference and is decided by what happens to it.
    while isinstance(parent, ast.Tuple | ast.List) and isinstance(parent.ctx, ast.Load):
        node, parent = parent, parents.get(parent)
    if isinstance(parent, ast.Call):
        func = parent.func
        return isinstance(func, ast.Name) and func.id in reading_calls and node in parent.args
    if isinstance(parent, ast.Subscript):
        return node is parent.slice
    if isinstance(parent, ast.If | ast.While | ast.IfExp):
        return node is parent.test
    return isinstance(
        parent, ast.Expr | ast.Compare | ast.BinOp | ast.UnaryOp | ast.BoolOp | ast.FormattedValue
    )


def _method_called(name: ast.Name, parents: dict[ast.AST, ast.AST]) -> str | None:
    """The method in `name.method(...)` when the call passes no inplace= (or inplace=False)."""
    attribute = parents.get(name)
    if not isinstance(attribute, ast.Attribute) or attribute.value is not name:
        return None
    call = parents.get(attribute)
    if not isinstance(call, ast.Call) or call.func is not attribute:
        return None
    for keyword in call.keywords:
        if keyword.arg is None:  # **kwargs could hold inplace=True
            return None
        if keyword.arg == "inplace" and not (
            isinstance(keyword.value, ast.Constant) and keyword.value.value is False
        ):
            return None
    return attribute.attr


def unchanged_by_methods(value: Any, methods: set[str]) -> bool:
    """True if calling these methods (without inplace=) cannot have changed `value`."""
    pandas = sys.modules.get("pandas")
    if pandas is None or not isinstance(value, pandas.DataFrame | pandas.Series | pandas.Index):
        return False
    # Copy-on-write is always on from pandas 3; before it, `df.head()` returns a view whose
    # later modification writes through to df.
    if int(pandas.__version__.split(".")[0]) < 3:
        return False
    return not any(m in _PANDAS_MUTATORS or m.startswith("_") for m in methods)


def names_used_by_code(candidates: set[str], namespace: dict[str, Any]) -> set[str]:
    """Global names that the namespace's own functions and classes among `candidates` may touch,
    following calls into further such functions (bounded)."""
    found: set[str] = set()
    seen: set[int] = set()
    pending = [namespace[n] for n in candidates if n in namespace]
    while pending and len(seen) < _MAX_CODE_OBJECTS:
        for code in _code_objects(pending.pop(), namespace):
            if id(code) in seen:
                continue
            seen.add(id(code))
            for name in code.co_names:
                if name not in found and name in namespace:
                    found.add(name)
                    pending.append(namespace[name])
            pending.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return found


def _code_objects(obj: Any, namespace: dict[str, Any]) -> list[types.CodeType]:
    if isinstance(obj, types.CodeType):
        return [obj]
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if isinstance(obj, types.FunctionType):
        return [obj.__code__] if obj.__globals__ is namespace else []
    cls = obj if isinstance(obj, type) else type(obj)
    if cls.__module__ != "__main__":
        return []
    codes: list[types.CodeType] = []
    for attr in vars(cls).values():
        if isinstance(attr, staticmethod | classmethod):
            attr = attr.__func__
        functions = [attr.fget, attr.fset, attr.fdel] if isinstance(attr, property) else [attr]
        codes.extend(f.__code__ for f in functions if isinstance(f, types.FunctionType))
    return codes


def children(obj: Any) -> list[Any] | None:
    """The mutable objects one level inside a container, for the aliasing cover; None for
    non-containers and containers too big to scan cheaply."""
    if isinstance(obj, list | tuple | set | frozenset):
        items: Any = obj
    elif isinstance(obj, dict):
        items = obj.values()
    elif type(obj).__module__ == "__main__" and isinstance(getattr(obj, "__dict__", None), dict):
        items = obj.__dict__.values()
    else:
        return None
    if len(items) > _MAX_CHILDREN:
        return None
    try:
        return [v for v in items if not isinstance(v, IMMUTABLE)]
    except RuntimeError:  # changed size while a background thread works on it
        return None
