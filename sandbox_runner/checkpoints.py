"""Kernel side: keep the state folder in step with the namespace, and rebuild the namespace from it.

A user variable is a namespace name not starting with `_` (that leaves out `__builtins__` and the
like; the executor's `display` lives in builtins). Three kinds are saved differently:
- modules go in `_modules.json` (name -> module), re-imported under the same name;
- functions and classes defined by a top-level `def`/`class` in a cell go in `_defs.json` as that
  source, re-run on restore before any data, so pickles of instances of user classes (and of
  functions, by reference) resolve; pickle cannot save them by value;
- everything else is pickled to `<name>.pkl` on its own (checkpoint_files.py).

Checkpoints are taken after cells that ended "ok" or "error": a cell that raised still leaves its
earlier assignments in the live namespace, and the user builds on them. Not after an interrupt or
timeout: the user asked to stop, and the server kills a kernel that does not answer within seconds
of an interrupt, so no long pickling then; the changes stay marked and go into the next finished
cell's checkpoint. After a crash there is no namespace left to save.
"""

import ast
import importlib
import inspect
import linecache
import logging
import os
import time
import types
from collections.abc import Callable
from typing import Any

from sandbox_runner import checkpoint_files as files
from sandbox_runner import pipe, variables
from sandbox_runner.changes import (
    IMMUTABLE,
    children,
    names_used_by_code,
    scan_cell,
    unchanged_by_methods,
)

log = logging.getLogger("sandbox_runner.kernel")


class Checkpoints:
    def __init__(self, state_dir: str | None, namespace: dict[str, Any]) -> None:
        self.enabled = state_dir is not None
        self._dir = state_dir or ""
        self._ns = namespace
        # Every user name as of the last checkpoint -> id() of its object then.
        self._saved: dict[str, int] = {}
        self._modules: dict[str, str] = {}
        self._defs: dict[str, str] = {}  # in definition order: a class may use an earlier one
        self._sizes: dict[str, int] = {}
        self._reasons: dict[str, str] = {}  # not persisted -> why
        self._children: dict[str, set[int]] = {}
        self._parents: dict[int, set[str]] = {}  # id of a held object -> containers holding it
        self._dirty: set[str] = set()
        self._method_calls: dict[str, set[str]] = {}
        self._everything = False
        self._new_defs: dict[str, tuple[str, str, int | None]] = {}
        self.infos: dict[str, pipe.VariableInfo] = {}
        # Names the shell put in the namespace itself (In, exit, get_ipython): never variables.
        self.hidden: Callable[[str, Any], bool] = lambda name, value: False

    def user_items(self) -> dict[str, Any]:
        """The namespace's variables: neither _private nor the shell's own."""
        return {
            n: v for n, v in self._ns.items() if not n.startswith("_") and not self.hidden(n, v)
        }

    def before_cell(self, tree: ast.Module, code: str, filename: str) -> None:
        """Note what the cell may change; called with the parsed cell before it runs."""
        scan = scan_cell(tree, code, self._ns)
        self._dirty |= scan.names
        for name, methods in scan.method_calls.items():
            self._method_calls.setdefault(name, set()).update(methods)
        self._everything |= scan.everything
        for name, source in scan.defs.items():
            before = id(self._ns[name]) if name in self._ns else None
            self._new_defs[name] = (source, filename, before)

    def assume_everything(self) -> None:
        """The cell could not be scanned: every variable is a candidate."""
        self._everything = True

    def commit(self) -> pipe.CheckpointReport:
        """Checkpoint what may have changed since the last commit."""
        started = time.perf_counter()
        current = self.user_items()
        dirty = set(current) if self._everything else self._dirty & current.keys()
        for name, methods in self._method_calls.items():
            if name in current and not unchanged_by_methods(current[name], methods):
                dirty.add(name)
        for name, value in current.items():
            if self._saved.get(name) != id(value):
                dirty.add(name)
        deleted = [n for n in self._saved if n not in current]
        if dirty:
            dirty |= names_used_by_code(dirty, self._ns) & current.keys()
            dirty |= self._aliases(dirty, current)
        changed: list[str] = []
        failed: dict[str, str] = {}
        unlisted: list[str] = []
        manifests_changed = False
        for name in sorted(dirty):
            value = current[name]
            same_object = self._saved.get(name) == id(value)
            self._saved[name] = id(value)
            if isinstance(value, types.ModuleType):
                if not same_object or self._modules.get(name) != value.__name__:
                    self._forget(name)
                    self._modules[name] = value.__name__
                    manifests_changed = True
                if self.infos.pop(name, None) is not None:
                    unlisted.append(name)
                continue
            source = self._def_source(name, value)
            if source is None and name in self._defs and same_object:
                continue  # a def from an earlier cell, not rebound: its source is saved
            manifests_changed |= self._forget(name, keep_file=source is None)
            if source is not None:
                self._defs[name] = source
                manifests_changed = True
            elif self.enabled:
                try:
                    self._sizes[name] = files.write_data(self._dir, name, value)
                except Exception as e:
                    # The old checkpoint must go: a restore would bring back a stale value.
                    files.remove(files.data_path(self._dir, name))
                    failed[name] = self._reasons[name] = _reason(e, value)
            else:
                failed[name] = self._reasons[name] = "the sandbox has no state folder"
            self._index_children(name, value)
            self.infos[name] = self._describe(name, value)
            if name not in failed:
                changed.append(name)
        for name in deleted:
            manifests_changed |= self._forget(name)
            del self._saved[name]
            if self.infos.pop(name, None) is not None:
                unlisted.append(name)
        if self.enabled and (manifests_changed or changed or failed or deleted):
            if manifests_changed:
                self._write_manifests()
            files.sync_dir(self._dir)
        self._dirty, self._method_calls, self._everything = set(), {}, False
        self._new_defs = {}
        checkpoint_ms = round((time.perf_counter() - started) * 1000, 3)
        log.debug("checkpoint of %d variables took %.1f ms", len(changed), checkpoint_ms)
        # Empty fields left out: the common cell changes nothing, and its message stays small.
        report: pipe.CheckpointReport = {"checkpoint_ms": checkpoint_ms}
        if changed:
            report["variables_changed"] = changed
        if deleted:
            report["variables_deleted"] = deleted
        if failed:
            report["not_persisted"] = failed
        if listed := [self.infos[n] for n in sorted(dirty) if n in self.infos]:
            report["variables"] = listed
        if unlisted:
            report["variables_unlisted"] = unlisted
        return report

    def restore(self, skip: set[str], progress: Callable[[str], None]) -> pipe.RestoreReport:
        """Rebuild the namespace from the state folder; one failure loses only its own name."""
        restored: list[str] = []
        errors: dict[str, str] = {}
        if not self.enabled:
            return {"restored": restored, "restore_errors": errors}
        try:
            files.remove_temp_files(self._dir)
            names = files.data_names(self._dir)
        except OSError as e:
            return {"restored": restored, "restore_errors": {"*": f"no state folder: {e}"}}
        try:
            modules = files.read_json(self._dir, files.MODULES_FILE, {})
            self._modules = {str(k): str(v) for k, v in dict(modules).items()}
        except Exception as e:  # any damage: unreadable, not JSON, not the expected shape
            errors[files.MODULES_FILE] = f"the saved imports could not be read: {e}"
        try:
            defs = files.read_json(self._dir, files.DEFS_FILE, [])
            self._defs = {str(k): str(v) for k, v in defs}
        except Exception as e:
            errors[files.DEFS_FILE] = f"the saved functions and classes could not be read: {e}"
        for name, module in self._modules.items():
            if self._restoring(name, skip, progress):
                try:
                    self._ns[name] = importlib.import_module(module)
                    restored.append(name)
                except Exception as e:
                    errors[name] = f"could not import {module}: {_reason(e, None)}"
        failed_defs = self._run_defs(self._defs, skip, progress)
        for name in names:
            if self._restoring(name, skip, progress):
                try:
                    self._ns[name] = files.read_data(files.data_path(self._dir, name))
                    self._sizes[name] = os.path.getsize(files.data_path(self._dir, name))
                    restored.append(name)
                except Exception as e:
                    errors[name] = f"{type(e).__name__}: {_reason(e, None)}"
        # A def whose decorator or default value needs a data variable works once data is back.
        failed_defs = self._run_defs({n: self._defs[n] for n in failed_defs}, skip, progress)
        errors.update(failed_defs)
        restored.extend(n for n in self._defs if n in self._ns and n not in failed_defs)
        for name, value in self.user_items().items():
            self._saved[name] = id(value)
            self._index_children(name, value)
            if not isinstance(value, types.ModuleType):
                self.infos[name] = self._describe(name, value)
        return {"restored": sorted(restored), "restore_errors": errors}

    def bind(self, name: str, value: Any) -> pipe.CheckpointReport:
        """Bind a value made by the executor itself (a loaded CSV) and checkpoint it at once."""
        return self.bind_all({name: value})

    def bind_all(self, values: dict[str, Any]) -> pipe.CheckpointReport:
        """Bind values made by the executor itself (a workbook's sheets) together, and
        checkpoint them at once."""
        self._ns.update(values)
        self._dirty.update(values)
        return self.commit()

    def _restoring(self, name: str, skip: set[str], progress: Callable[[str], None]) -> bool:
        if name in skip:
            return False
        progress(name)
        return True

    def _run_defs(
        self, defs: dict[str, str], skip: set[str], progress: Callable[[str], None]
    ) -> dict[str, str]:
        """Re-run saved def/class statements; returns name -> why it failed."""
        failed = {}
        for name, source in defs.items():
            if not self._restoring(name, skip, progress):
                continue
            filename = f"<restored {name}>"
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            try:
                exec(compile(source, filename, "exec"), self._ns)
            except Exception as e:
                failed[name] = f"its definition failed to run again: {type(e).__name__}: {e}"
        return failed

    def _def_source(self, name: str, value: Any) -> str | None:
        """The source of the def/class statement of this cell that bound `value`, if one did."""
        new = self._new_defs.get(name)
        if new is None or new[2] == id(value):
            return None
        source, filename, _ = new
        try:
            inner = inspect.unwrap(value)  # through decorators that keep __wrapped__
        except ValueError:
            return None
        if isinstance(inner, type):
            made_here = inner.__module__ == "__main__"
        else:
            code = getattr(inner, "__code__", None)
            made_here = isinstance(code, types.CodeType) and code.co_filename == filename
        return source if made_here and getattr(inner, "__qualname__", None) == name else None

    def _forget(self, name: str, keep_file: bool = False) -> bool:
        """Drop every saved form of `name`; True if a manifest changed. `keep_file` when a new
        checkpoint is about to replace the file: until the rename, a kill must find the old one."""
        self._sizes.pop(name, None)
        self._reasons.pop(name, None)
        if self.enabled and not keep_file:
            files.remove(files.data_path(self._dir, name))
        changed = self._modules.pop(name, None) is not None
        changed |= self._defs.pop(name, None) is not None
        for child in self._children.pop(name, ()):
            holders = self._parents.get(child)
            if holders is not None:
                holders.discard(name)
                if not holders:
                    del self._parents[child]
        return changed

    def _index_children(self, name: str, value: Any) -> None:
        held = children(value)
        if held:
            ids = {id(v) for v in held}
            self._children[name] = ids
            for child in ids:
                self._parents.setdefault(child, set()).add(name)

    def _aliases(self, dirty: set[str], current: dict[str, Any]) -> set[str]:
        by_id: dict[int, list[str]] = {}
        for name, value in current.items():
            if not isinstance(value, IMMUTABLE):
                by_id.setdefault(id(value), []).append(name)
        extra: set[str] = set()
        for name in dirty:
            value = current[name]
            if not isinstance(value, IMMUTABLE):
                extra.update(by_id[id(value)])
                extra.update(self._parents.get(id(value), ()))
            for child in children(value) or ():
                extra.update(by_id.get(id(child), ()))
        return extra

    def _write_manifests(self) -> None:
        files.write_json(self._dir, files.MODULES_FILE, self._modules)
        files.write_json(self._dir, files.DEFS_FILE, list(self._defs.items()))

    def _describe(self, name: str, value: Any) -> pipe.VariableInfo:
        if name in self._defs:
            size: int | None = len(self._defs[name].encode("utf-8", "replace"))
        else:
            size = self._sizes.get(name)
        return variables.describe(name, value, size, self._reasons.get(name))


def _reason(error: BaseException, value: Any) -> str:
    if isinstance(value, types.FunctionType) and value.__module__ == "__main__":
        return (
            "only functions made by a def statement in a cell can be saved; this one was made "
            "another way (a lambda, a closure or exec)"
        )
    text = str(error) or type(error).__name__
    return text if len(text) <= 300 else text[:300] + "…"
