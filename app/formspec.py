"""Declarative form specs (``forms/<key>.yaml``) turned into WTForms classes and JSON descriptions.

One spec serves the HTML page and the API: both validate through the same WTForms class, and
only the declared fields are ever taken from a submission.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    Field,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional, StopValidation, ValidationError

FIELD_TYPES = {"string", "textarea", "choice", "integer", "decimal", "date", "boolean"}
KNOWN_KEYS = {"name", "type", "label", "required", "choices", "help", "max_length", "min", "max",
              "widget", "required_when"}


class FormSpecError(Exception):
    """A form spec file that cannot be used."""


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    label: str
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    help: str = ""
    max_length: int | None = None
    min: float | None = None
    max: float | None = None
    widget: str | None = None
    required_when: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name, "type": self.type, "label": self.label, "required": self.required,
            "choices": [{"value": v, "label": lbl} for v, lbl in self.choices] or None,
            "help": self.help or None, "max_length": self.max_length,
            "required_when": self.required_when or None,
        }


@dataclass(frozen=True)
class FormSpec:
    key: str
    title: str
    description: str
    context: str | None
    fields: tuple[FieldSpec, ...]
    # A task worked on its own page (e.g. the score-entry grid) names that page's endpoint; the page
    # completes the task itself, and the generic form refuses it.
    page: str | None = None

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def describe(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "description": self.description,
                "fields": [f.describe() for f in self.fields], "page": self.page}


def _field_spec(path: Path, raw: Any) -> FieldSpec:
    if not isinstance(raw, dict) or "name" not in raw or "type" not in raw:
        raise FormSpecError(f"{path.name}: every field needs a name and a type")
    unknown = set(raw) - KNOWN_KEYS
    if unknown:
        raise FormSpecError(f"{path.name}: field {raw['name']!r} has unknown keys {sorted(unknown)}")
    if raw["type"] not in FIELD_TYPES:
        raise FormSpecError(f"{path.name}: field {raw['name']!r} has unknown type {raw['type']!r}")
    choices = tuple((str(c[0]), str(c[1])) for c in raw.get("choices") or ())
    if raw["type"] == "choice" and not choices:
        raise FormSpecError(f"{path.name}: choice field {raw['name']!r} needs choices")
    return FieldSpec(
        name=str(raw["name"]), type=raw["type"], label=str(raw.get("label", raw["name"])),
        required=bool(raw.get("required", False)), choices=choices, help=str(raw.get("help", "")),
        max_length=raw.get("max_length"), min=raw.get("min"), max=raw.get("max"), widget=raw.get("widget"),
        required_when={str(k): str(v) for k, v in (raw.get("required_when") or {}).items()},
    )


def parse_form_spec(key: str, text: str) -> FormSpec:
    """One form spec from its YAML text (a file in ``forms/``, or the copy a spec version stored)."""
    path = Path(f"{key}.yaml")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FormSpecError(f"{path.name}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("fields"), list):
        raise FormSpecError(f"{path.name}: needs a title and a list of fields")
    fields = tuple(_field_spec(path, f) for f in raw["fields"])
    names = [f.name for f in fields]
    if len(names) != len(set(names)):
        raise FormSpecError(f"{path.name}: duplicate field names")
    for f in fields:
        for other in f.required_when:
            if other not in names:
                raise FormSpecError(f"{path.name}: {f.name}.required_when names unknown field {other!r}")
    return FormSpec(key=key, title=str(raw.get("title", key)), description=str(raw.get("description", "")),
                    context=raw.get("context"), fields=fields, page=raw.get("page"))


def load_form_specs(directory: Path) -> dict[str, FormSpec]:
    return {path.stem: parse_form_spec(path.stem, path.read_text(encoding="utf-8"))
            for path in sorted(directory.glob("*.yaml"))}


def _is_empty(field: Field) -> bool:
    """Nothing submitted: a number 0 or a False box is a value, a blank string is not."""
    raw = field.raw_data[0] if field.raw_data else None
    return field.data is None or (isinstance(field.data, str) and not field.data.strip()) or raw in (None, "")


class RequiredWhen:
    """Required only when another field has a given value (e.g. a comment when returning);
    otherwise optional, so an empty value is fine and skips the remaining checks."""

    def __init__(self, conditions: dict[str, str]) -> None:
        self.conditions = conditions
        self.field_flags = {"optional": True}

    def __call__(self, form: FlaskForm, field: Field) -> None:
        required = all(str(form[k].data) == v for k, v in self.conditions.items())
        if not _is_empty(field):
            return
        if required:
            field.errors[:] = []
            raise StopValidation("此种情况下必须填写此项。")
        field.errors[:] = []
        raise StopValidation()


def _finite(form: FlaskForm, field: Field) -> None:
    if isinstance(field.data, Decimal) and not field.data.is_finite():
        raise ValidationError("须为有限的数字。")


def _wtf_field(spec: FieldSpec) -> Field:
    validators: list[Any] = [InputRequired(message="此项为必填项。")] if spec.required else [Optional()]
    if spec.required_when:
        validators = [RequiredWhen(spec.required_when)]
    if spec.max_length:
        validators.append(Length(max=spec.max_length, message=f"最多 {spec.max_length} 个字符。"))
    if spec.min is not None or spec.max is not None:
        validators.append(NumberRange(min=spec.min, max=spec.max, message="超出允许范围。"))
    kwargs: dict[str, Any] = {"label": spec.label, "validators": validators, "description": spec.help}
    match spec.type:
        case "string":
            return StringField(**kwargs)
        case "textarea":
            return TextAreaField(**kwargs)
        case "choice":
            cls = RadioField if spec.widget == "radio" else SelectField
            return cls(choices=[SelectChoice(v, lbl) for v, lbl in spec.choices], validate_choice=True, **kwargs)
        case "integer":
            return IntegerField(**kwargs)
        case "decimal":
            kwargs["validators"] = [*validators, _finite]
            return DecimalField(**kwargs)
        case "date":
            return DateField(**kwargs)
        case "boolean":
            kwargs["validators"] = [v for v in validators if not isinstance(v, InputRequired)]
            return BooleanField(**kwargs)
    raise FormSpecError(f"unknown field type {spec.type!r}")


_form_classes: dict[int, tuple[FormSpec, type[FlaskForm]]] = {}


def build_form_class(spec: FormSpec) -> type[FlaskForm]:
    """The WTForms class for a spec, built once per loaded spec (specs are immutable)."""
    cached = _form_classes.get(id(spec))
    if cached is None or cached[0] is not spec:
        attrs = {f.name: _wtf_field(f) for f in spec.fields}
        cached = _form_classes[id(spec)] = (spec, type(f"TaskForm_{spec.key}", (FlaskForm,), attrs))
    return cached[1]


def _plain(value: Any) -> Any:
    """Task data must survive JSON: dates as ISO strings, decimals as exact strings."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    return value


def cleaned_data(spec: FormSpec, form: FlaskForm) -> dict[str, Any]:
    """Every declared field, and nothing else; empty values are stored as None so that a value
    from an earlier round of a loop never lingers in the process data."""
    out = {}
    for f in spec.fields:
        value = _plain(form[f.name].data)
        out[f.name] = None if value == "" else value
    return out


def validate_json(spec: FormSpec, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Validate an API submission with the same form class as the HTML page."""
    formdata: MultiDict[str, str] = MultiDict()
    type_errors: dict[str, list[str]] = {}
    for f in spec.fields:
        value = data.get(f.name)
        if value is None:
            continue
        if f.type == "boolean":
            # Only JSON true/false: the string "false" must not tick a box.
            if value is True:
                formdata.add(f.name, "y")
            elif value is not False:
                type_errors[f.name] = ["须为 true 或 false。"]
        else:
            formdata.add(f.name, str(value))
    form = build_form_class(spec)(formdata=formdata, meta={"csrf": False})
    valid = form.validate()
    if not valid or type_errors:
        errors = {name: [str(m) for m in messages] for name, messages in form.errors.items()}
        return {}, {**errors, **type_errors}
    return cleaned_data(spec, form), {}
