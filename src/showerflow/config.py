"""Configuration files: loading, JSON-schema validation, defaults.

Schemas live in the package (``showerflow/schemas/*.schema.yaml``) so that the CLI and
the workflow validate the same way; ``config/schemas/`` links to them.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

__all__ = [
    "ConfigError",
    "load_schema",
    "fill_defaults",
    "coerce_strings",
    "validate",
    "load_yaml",
    "load_config",
]


class ConfigError(ValueError):
    """A configuration file breaks its schema."""


@functools.cache
def _parsed_schema(name):
    text = resources.files("showerflow").joinpath(f"schemas/{name}.schema.yaml").read_text()
    return yaml.safe_load(text)


def load_schema(name):
    """Return the schema ``showerflow/schemas/{name}.schema.yaml`` as a dict (a fresh copy;
    the YAML is parsed once per process)."""
    return copy.deepcopy(_parsed_schema(name))


def _resolve_ref(schema, root):
    """Merge a local ``$ref`` target with the sibling keys of ``schema``."""
    ref = schema.get("$ref")
    if not ref:
        return schema
    target = root
    for part in ref.lstrip("#/").split("/"):
        target = target[part]
    merged = dict(_resolve_ref(target, root))
    merged.update({k: v for k, v in schema.items() if k != "$ref"})
    return merged


def fill_defaults(instance, schema, root=None):
    """Fill missing keys of ``instance`` from the schema's defaults, recursively.

    Parameters
    ----------
    instance : dict
    schema : dict
    root : dict, optional
        Schema that local ``$ref`` point into (default: ``schema``).

    Returns
    -------
    dict
        ``instance``, changed in place.
    """
    root = schema if root is None else root
    schema = _resolve_ref(schema, root)
    for key, sub in schema.get("properties", {}).items():
        sub = _resolve_ref(sub, root)
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(key), dict):
            fill_defaults(instance[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in instance.items():
            if key not in schema.get("properties", {}) and isinstance(value, dict):
                fill_defaults(value, extra, root)
    return instance


#: Spellings of a boolean accepted where the schema wants a boolean (Snakemake's ``--config``
#: reads ``True``/``False`` as booleans, ``1``/``0`` as integers and anything else as text).
BOOLEAN_WORDS = {"true": True, "false": False, "1": True, "0": False}
#: Spellings of null accepted where the schema allows null and no string.
NULL_WORDS = ("null", "none", "~", "")


def _allowed_types(schema):
    """The JSON types a (resolved) schema allows, or None if it does not say."""
    if "type" in schema:
        types = schema["type"]
        return set(types if isinstance(types, list) else [types])
    if "enum" in schema:
        names = {bool: "boolean", int: "integer", float: "number", str: "string"}
        return {"null" if v is None else names.get(type(v), "object") for v in schema["enum"]}
    return None


def _coerce_scalar(value, types):
    """``value`` converted to the schema's type where it is text of it (else unchanged)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return value
    if isinstance(value, int):  # --config flag=1 is an integer to Snakemake
        if "boolean" in types and not types & {"integer", "number"} and value in (0, 1):
            return bool(value)
        return value
    if "string" in types:
        return value
    text = value.strip()
    if "null" in types and text.lower() in NULL_WORDS:
        return None
    if "boolean" in types and text.lower() in BOOLEAN_WORDS:
        return BOOLEAN_WORDS[text.lower()]
    if "integer" in types:
        try:
            return int(text)
        except ValueError:
            pass
    if "number" in types:
        try:
            return float(text)
        except ValueError:
            pass
    return value


def coerce_strings(instance, schema, root=None):
    """Turn text into the type the schema wants where the text spells it, recursively.

    Snakemake's ``--config KEY=VALUE`` reads ``True``/``False`` as booleans and numbers as
    numbers, but ``true`` and every value inside a mapping (``--config
    "test_mode={max_events_per_file: 100}"``) as text, which a boolean or integer key of
    the schema would refuse. Where the schema allows no string, a text value is converted:
    ``true/false/True/False/1/0`` (any case) to a boolean, ``null``/``None``/``~`` to null,
    digits to an integer or a number; an integer 0 or 1 where only a boolean is allowed
    becomes one. Anything else is left for the validation to name.

    Parameters
    ----------
    instance : dict
    schema : dict
    root : dict, optional
        Schema that local ``$ref`` point into (default: ``schema``).

    Returns
    -------
    dict
        ``instance``, changed in place.
    """
    root = schema if root is None else root
    schema = _resolve_ref(schema, root)
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for key, value in list(instance.items()):
        sub = props.get(key, extra if isinstance(extra, dict) else None)
        if sub is None:
            continue
        sub = _resolve_ref(sub, root)
        if isinstance(value, dict):
            coerce_strings(value, sub, root)
        elif isinstance(value, list) and isinstance(sub.get("items"), dict):
            items = _resolve_ref(sub["items"], root)
            types = _allowed_types(items)
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    coerce_strings(item, items, root)
                elif types is not None:
                    value[i] = _coerce_scalar(item, types)
        else:
            types = _allowed_types(sub)
            if types is not None:
                instance[key] = _coerce_scalar(value, types)
    return instance


def _describe(schema):
    """Short human description of what a schema allows."""
    parts = []
    if "enum" in schema:
        parts.append("one of " + ", ".join(repr(v) for v in schema["enum"]))
    elif "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        parts.append(" or ".join(types))
    for key, text in (
        ("minimum", ">= {}"),
        ("exclusiveMinimum", "> {}"),
        ("maximum", "<= {}"),
        ("exclusiveMaximum", "< {}"),
        ("minItems", "at least {} items"),
    ):
        if key in schema:
            parts.append(text.format(schema[key]))
    if "description" in schema:
        parts.append(f"({schema['description']})")
    return " ".join(parts) or "see the schema"


def _format_error(error):
    where = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties" and "properties" in error.schema:
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        names = ", ".join(repr(".".join(filter(None, [where, str(k)]))) for k in unknown)
        scope = f"under '{where}'" if where else "at the top level"
        return f"unknown key {names}; allowed keys {scope}: {', '.join(allowed)}"
    return f"key '{where or '<top level>'}': {error.message}; allowed: {_describe(error.schema)}"


def validate(data, schema, source="config"):
    """Validate ``data`` in place against ``schema``, filling defaults first.

    Text that spells the type the schema wants is converted first (:func:`coerce_strings`),
    as the workflow does with Snakemake's ``--config`` values.

    Parameters
    ----------
    data : dict
    schema : dict or str
        A schema, or the name of a packaged schema.
    source : str
        Name of the file, used in the message.

    Returns
    -------
    dict
        ``data`` with defaults filled in.

    Raises
    ------
    ConfigError
        Naming every bad key, the bad value and what the schema allows.
    """
    if isinstance(schema, str):
        schema = load_schema(schema)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of settings, got {type(data).__name__}")
    fill_defaults(data, schema)
    coerce_strings(data, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path)))
    if errors:
        raise ConfigError(f"{source}: " + "; ".join(_format_error(e) for e in errors))
    return data


def load_yaml(path):
    """Read a YAML file into a dict (an empty file gives {})."""
    with open(path) as f:
        return yaml.safe_load(f) or {}


def load_config(path, schema):
    """Load a YAML file and validate it against a packaged schema.

    Parameters
    ----------
    path : str or Path
    schema : str
        Packaged schema name, e.g. ``"model"``.

    Returns
    -------
    dict
    """
    return validate(load_yaml(path), schema, source=str(Path(path)))
