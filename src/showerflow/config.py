"""Configuration files: loading, JSON-schema validation, defaults.

Schemas live in the package (``showerflow/schemas/*.schema.yaml``) so that the CLI and
the workflow validate the same way; ``config/schemas/`` links to them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jsonschema
import yaml

__all__ = ["ConfigError", "load_schema", "validate", "load_yaml", "load_config"]


class ConfigError(ValueError):
    """A configuration file breaks its schema."""


def load_schema(name):
    """Return the schema ``showerflow/schemas/{name}.schema.yaml`` as a dict."""
    text = resources.files("showerflow").joinpath(f"schemas/{name}.schema.yaml").read_text()
    return yaml.safe_load(text)


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if "default" in sub and prop not in instance:
                    instance[prop] = sub["default"]
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft7Validator)


def validate(data, schema, source="config"):
    """Validate ``data`` in place against ``schema``, filling defaults.

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
        Naming the key path, the bad value and what the schema allows.
    """
    if isinstance(schema, str):
        schema = load_schema(schema)
    errors = sorted(_Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        allowed = err.schema.get("description", "")
        raise ConfigError(
            f"{source}: key '{where}': {err.message}"
            + (f" (expected: {allowed})" if allowed else "")
        )
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
