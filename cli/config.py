"""The config file: defaults, in TOML, for what is otherwise a flag or an environment
variable. This module alone finds, reads and checks it (docs/config.md).

Precedence, highest first: a command-line flag, its environment variable, the config
file, the built-in default. click's `default_map` gives exactly that order for the
commands' options; the global options (--store, --server, --token) are filled in by hand
when neither a flag nor the environment gave them.

The first file found is the only one read: `--config FILE` or `$WFOBJ_CONFIG` (which must
exist), else `<store>/wfobj.toml` when --store or WFOBJ_STORE names a store, else
`$XDG_CONFIG_HOME/wfobj/config.toml` (`~/.config/wfobj/config.toml`).

Keys are the long option names with `_` for `-`: top-level `store`, `server`, `token`,
`map_size`; `[serve]` and `[worker]` their own options; `[executor]` the executor options
both share (`kind` is --executor, `pull`, `task_memory`, `task_pids`, `task_cpus`) and
`[executor.docker]` and `[executor.slurm]` the --docker-* and --slurm-* ones. Each value is checked as its option checks a flag.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from .errors import ConfigError
from .executor_flags import config_keys

CONFIG_ENV = "WFOBJ_CONFIG"
STORE_FILE = "wfobj.toml"
GLOBAL_KEYS = ("store", "server", "token")
COMMANDS = ("serve", "worker")
EXECUTOR_KEYS = config_keys("")  # the executor's flags and their keys: cli/executor_flags.py
DOCKER_KEYS = config_keys("docker")
SLURM_KEYS = config_keys("slurm")
_EXECUTOR_TABLES = {"docker": DOCKER_KEYS, "slurm": SLURM_KEYS}
# settings that only an environment variable carries today (read by child processes:
# gunicorn's workers, every process opening the store): (section, key) -> variable
ENV_KEYS = {("", "map_size"): "WFOBJ_MAP_SIZE", ("serve", "max_upload"): "WFOBJ_MAX_UPLOAD"}


@dataclass
class Config:
    """A checked config file: global option values, each command's default_map, and
    environment defaults."""

    path: str | None = None
    globals: dict[str, str] = field(default_factory=dict)
    default_map: dict[str, dict[str, Any]] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)


def find(explicit: str | None, store: str | None) -> Path | None:
    """The config file to read (see the module docstring), or None."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(str(path), "no such file")
        return path
    candidates = [Path(store) / STORE_FILE] if store else []
    home = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    candidates.append(Path(home) / "wfobj" / "config.toml")
    return next((p for p in candidates if p.is_file()), None)


def load(path: Path | None, group: click.Group) -> Config:
    """Read and check `path` against the options of `group`'s commands."""
    if path is None:
        return Config()
    import tomllib  # only when there is a file: every command's start reads this module

    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(where, f"cannot read it: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, f"not valid TOML: {exc}") from None
    secret = next(_credentials(data), None)
    if secret is not None and path.stat().st_mode & 0o077:
        key, what = secret
        raise ConfigError(where, f"holds {what}, so it must be readable by its owner only "
                                 f"(chmod 600 {where})", key)
    return Config(where, _globals(where, data, group), _default_map(where, data, group),
                  _environment(where, data))


def apply(config: Config) -> None:
    """Give this process (and so its children) the config's environment settings, where
    the environment does not set them already (it takes precedence)."""
    for name, value in config.environment.items():
        os.environ.setdefault(name, value)


# ---- checking ----------------------------------------------------------------------------
def _credentials(table: Mapping, section: str = "") -> Iterator[tuple[str, str]]:
    """(key, what it holds) of each secret in the file: the top-level `token`, and any URL
    with a user or password in it (`http://user:password@host`, an OpenLineage or a
    server URL)."""
    for key, value in table.items():
        name = f"{section}.{key}" if section else key
        if isinstance(value, dict):
            yield from _credentials(value, name)
        elif name == "token":
            yield name, "a token"
        elif isinstance(value, str) and _has_userinfo(value):
            yield name, "credentials in its URL"


def _has_userinfo(text: str) -> bool:
    if "://" not in text:
        return False
    from urllib.parse import urlsplit

    try:
        return "@" in urlsplit(text).netloc
    except ValueError:
        return False


def _globals(where: str, data: dict, group: click.Group) -> dict[str, str]:
    known = {*GLOBAL_KEYS, *COMMANDS, "executor", *(k for s, k in ENV_KEYS if not s)}
    _no_unknown(where, "", data, known)
    params = {p.name: p for p in group.params}
    return {key: _value(where, key, data[key], params[key])
            for key in GLOBAL_KEYS if key in data}


def _default_map(where: str, data: dict, group: click.Group) -> dict[str, dict[str, Any]]:
    """Each command's default_map: its own section, plus the shared [executor] tables."""
    shared, names = _executor_values(where, data)
    out = {}
    for command_name in COMMANDS:
        section = _table(where, command_name, data.get(command_name, {}))
        if not section and not shared:  # nothing to check: its late options stay unmade
            out[command_name] = {}
            continue
        command = group.get_command(click.Context(group), command_name)
        params = {p.name: p for p in command.params if isinstance(p, click.Option)}
        own = {n for n in params if n not in names and n != "help"}
        _no_unknown(where, command_name, section,
                    own | {k for s, k in ENV_KEYS if s == command_name})
        values = {n: _value(where, f"{command_name}.{n}", v, params[n])
                  for n, v in section.items() if n in own}
        values |= {n: _value(where, names[n], v, params[n]) for n, v in shared.items()}
        out[command_name] = values
    return out


def _executor_values(where: str, data: dict) -> tuple[dict[str, Any], dict[str, str]]:
    """({option name: value} from [executor] and its tables, {option name: key})."""
    executor = _table(where, "executor", data.get("executor", {}))
    _no_unknown(where, "executor", executor, {*EXECUTOR_KEYS, *_EXECUTOR_TABLES})
    values = {EXECUTOR_KEYS[k]: v for k, v in executor.items() if k not in _EXECUTOR_TABLES}
    names = {v: f"executor.{k}" for k, v in EXECUTOR_KEYS.items()}
    for table_name, keys in _EXECUTOR_TABLES.items():
        section = f"executor.{table_name}"
        table = _table(where, section, executor.get(table_name, {}))
        _no_unknown(where, section, table, set(keys))
        values |= {keys[k]: v for k, v in table.items()}
        names |= {v: f"{section}.{k}" for k, v in keys.items()}
    return values, names


def _environment(where: str, data: dict) -> dict[str, str]:
    out = {}
    for (section, key), variable in ENV_KEYS.items():
        table = data.get(section, {}) if section else data
        if key in table:
            value = table[key]
            if type(value) is not int or value <= 0:
                raise ConfigError(where, "must be a positive integer (bytes)",
                                  f"{section + '.' if section else ''}{key}")
            out[variable] = str(value)
    return out


def _table(where: str, name: str, value: object) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(where, f"must be a table ([{name}]), not {_kind(value)}", name)
    return value


def _no_unknown(where: str, section: str, table: Mapping, known: set[str]) -> None:
    for key in table:
        if key not in known:
            name = f"{section}.{key}" if section else key
            raise ConfigError(where, "unknown key (known: " + ", ".join(sorted(known)) + ")",
                              name)


def _value(where: str, key: str, value: object, param: click.Parameter) -> Any:
    """`value` checked as the option checks a flag: TOML type first, then its click type
    (ranges, choices)."""
    if param.multiple:
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ConfigError(where, f"must be a list of strings, not {_kind(value)}", key)
        return tuple(value)
    expected = _python_types(param.type)
    if type(value) not in expected:
        names = " or ".join(_TYPE_NAMES[t] for t in expected)
        raise ConfigError(where, f"must be {names}, not {_kind(value)}", key)
    try:
        return param.type.convert(value, param, None)
    except click.BadParameter as exc:
        raise ConfigError(where, exc.message, key) from None


def _python_types(kind: click.ParamType) -> tuple[type, ...]:
    if isinstance(kind, click.types.IntParamType):
        return (int,)
    if isinstance(kind, click.types.FloatParamType):
        return (int, float)
    if isinstance(kind, click.types.BoolParamType):
        return (bool,)
    return (str,)


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _kind(value: object) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "an array", dict: "a table"}
    return kinds.get(type(value), type(value).__name__)
