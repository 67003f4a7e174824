from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django import forms

from generations.assets import UploadedInput
from generations.uploads import InputRef
from providers import catalog, media
from providers.base import MODE_LABELS, MediaInfo, Mode
from providers.catalog import FieldSpec, MediaSlot, ModelSpec
from providers.registry import PROVIDER_LABELS


class ProjectForm(forms.Form):
    name = forms.CharField(
        max_length=120,
        widget=forms.TextInput(attrs={"placeholder": "e.g. Autumn lookbook", "autocomplete": "off"}),
    )
    description = forms.CharField(
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "What is this project for? (optional)"}),
    )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the project a name.")
        return name


# ---------------------------------------------------------------------------------------------
# The generation form: built from the catalog entry of the chosen (provider, mode, model)
# ---------------------------------------------------------------------------------------------

MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # the most any slot accepts; slots are usually stricter


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented pattern)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(d, initial) for d in data if d]
        return [single(data, initial)] if data else []


def slot_field(slot_name: str) -> str:
    return f"input_{slot_name}"


def slot_ref_field(slot_name: str) -> str:
    """The hidden field that carries a slot's kept inputs (generations.uploads references)."""
    return f"input_{slot_name}_ref"


REF_GONE = "That file is no longer available (it expired or is not yours): choose it again."


@dataclass
class SlotView:
    """One media slot as the template draws it: the file input, the kept inputs as chips."""

    slot: MediaSlot
    field: forms.BoundField
    refs: list[InputRef]

    @property
    def ref_name(self) -> str:
        return slot_ref_field(self.slot.name)

    @property
    def full(self) -> bool:
        return len(self.refs) >= self.slot.max_count


def resolve_model(
    *, providers: list[str], provider: str | None, mode: str | None, model: str | None
) -> ModelSpec:
    """The catalog entry the picker points at, falling back step by step to sensible defaults."""
    if provider not in providers:
        provider = providers[0]
    modes = [m for m in Mode if catalog.models_for(provider, m)]
    if mode not in {m.value for m in modes}:
        mode = (Mode.T2V if Mode.T2V in modes else modes[0]).value
    specs = catalog.models_for(provider, mode)
    return next((s for s in specs if s.model_id == model), specs[0])


def _field_for(spec: FieldSpec) -> forms.Field:
    help_text = spec.help + (" (not confirmed by the vendor's docs)" if spec.unconfirmed else "")
    common = {"label": spec.label, "help_text": help_text, "required": spec.required, "initial": spec.default}
    if spec.type == "bool":
        if spec.default is None:
            # No default means "the vendor decides": a checkbox cannot say that, a select can.
            return forms.NullBooleanField(
                **common,
                widget=forms.Select(
                    choices=[("unknown", "Vendor default"), ("true", "On"), ("false", "Off")]
                ),
            )
        return forms.BooleanField(**{**common, "required": False})
    if spec.choices:
        choices = [(str(c), str(c)) for c in spec.choices]
        if not spec.required and spec.default is None:
            choices.insert(0, ("", "Vendor default"))
        coerce = {"int": int, "float": float}.get(spec.type, str)
        return forms.TypedChoiceField(choices=choices, coerce=coerce, empty_value=None, **common)
    attrs = {}
    if spec.min is not None:
        attrs["min"] = spec.min
    if spec.max is not None:
        attrs["max"] = spec.max
    if spec.type == "int":
        return forms.IntegerField(widget=forms.NumberInput(attrs=attrs), **common)
    if spec.type == "float":
        return forms.FloatField(widget=forms.NumberInput(attrs={**attrs, "step": "any"}), **common)
    if spec.type == "json":
        return forms.CharField(
            widget=forms.Textarea(attrs={"rows": 3, "class": "font-monospace"}), **{**common, "initial": None}
        )
    placeholder = "e.g. 1280x720" if spec.name == "size" else ""
    return forms.CharField(widget=forms.TextInput(attrs={"placeholder": placeholder}), **common)


def _file_field_for(slot: MediaSlot) -> forms.Field:
    accept = {"image": "image/*", "video": "video/*", "audio": "audio/*"}[slot.kind]
    limits = []
    if slot.formats:
        limits.append(", ".join(f.upper() for f in slot.formats))
    if slot.max_bytes:
        limits.append(f"≤ {slot.max_bytes // (1024 * 1024)} MB")
    if slot.min_px or slot.max_px:
        limits.append(f"{slot.min_px or 1}–{slot.max_px or '∞'} px")
    if slot.min_seconds or slot.max_seconds:
        limits.append(f"{slot.min_seconds or 0:g}–{slot.max_seconds or '∞'} s")
    count = f"{slot.min_count}–{slot.max_count} files. " if slot.max_count > 1 else ""
    help_text = (slot.help + " " if slot.help else "") + count + " · ".join(limits)
    common = {"label": slot.label, "help_text": help_text.strip(), "required": slot.required}
    if slot.max_count > 1:
        return MultipleFileField(widget=MultipleFileInput(attrs={"accept": accept}), **common)
    return forms.FileField(widget=forms.ClearableFileInput(attrs={"accept": accept}), **common)


class UploadRefused(Exception):
    """An uploaded file a slot cannot take; the message names the file and the limit."""


def probe_upload(upload, slot: MediaSlot) -> tuple[bytes, MediaInfo]:
    """Read one uploaded file for `slot` and check it by its bytes (size first, unread when too big).

    Raises UploadRefused. The form and the studio's chip upload both go through here.
    """
    limit = min(slot.max_bytes or MAX_UPLOAD_BYTES, MAX_UPLOAD_BYTES)
    if upload.size > limit:
        raise UploadRefused(
            f"{upload.name} is {upload.size / 1048576:.1f} MB; the limit is {limit / 1048576:g} MB."
        )
    data = upload.read()
    try:
        info = media.probe(
            data,
            filename=upload.name,
            expected_kind=slot.kind,
            max_bytes=slot.max_bytes,
            min_duration=slot.min_seconds,
            max_duration=slot.max_seconds,
        )
    except media.MediaError as exc:
        raise UploadRefused(f"{upload.name}: {exc}") from exc
    return data, info


class GenerationForm(forms.Form):
    """Provider, mode and model pickers, the prompt, and exactly the chosen model's fields."""

    provider = forms.ChoiceField()
    mode = forms.ChoiceField()
    model = forms.ChoiceField()
    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Describe what you want to see…"})
    )
    # One per rendered form: the same form posted twice finds the first job (services.job_create).
    submit_token = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(
        self,
        data=None,
        files=None,
        *,
        providers: list[str],
        initial: dict | None = None,
        resolve_ref: Callable[[str], InputRef | None] | None = None,
        **kwargs,
    ):
        source = data if data is not None else (initial or {})
        self.spec = resolve_model(
            providers=providers,
            provider=source.get("provider"),
            mode=source.get("mode"),
            model=source.get("model"),
        )
        initial = {
            **(initial or {}),
            "provider": self.spec.provider,
            "mode": self.spec.mode.value,
            "model": self.spec.model_id,
        }
        initial.setdefault("submit_token", secrets.token_urlsafe(16))
        super().__init__(data, files, initial=initial, **kwargs)
        spec = self.spec
        self.fields["provider"].choices = [(p, PROVIDER_LABELS.get(p, p)) for p in providers]
        self.fields["mode"].choices = [
            (m.value, MODE_LABELS[m]) for m in Mode if catalog.models_for(spec.provider, m)
        ]
        self.fields["model"].choices = [
            (s.model_id, s.title) for s in catalog.models_for(spec.provider, spec.mode)
        ]
        prompt = self.fields["prompt"]
        prompt.required = spec.prompt_required
        if spec.prompt_max_chars:
            prompt.max_length = spec.prompt_max_chars
            prompt.widget.attrs["maxlength"] = spec.prompt_max_chars
            prompt.help_text = f"Up to {spec.prompt_max_chars} characters."
        self.param_names = []
        for field_spec in spec.fields:
            self.fields[field_spec.name] = _field_for(field_spec)
            self.param_names.append(field_spec.name)
        # File inputs are named input_<slot>: a slot can share its name with a parameter (the
        # `audio` slot for custom audio, the `audio` flag for generated audio).
        self.slot_names = []
        for slot in spec.media:
            self.fields[slot_field(slot.name)] = _file_field_for(slot)
            self.slot_names.append(slot_field(slot.name))
        self.uploads: list[UploadedInput] = []
        self.new_uploads: list[UploadedInput] = []  # files sent with this POST that passed
        self.used_refs: list[InputRef] = []
        self._resolve_refs(source, resolve_ref)
        if spec.mode == Mode.EDIT and "size" in self.fields and spec.field("size").default is not None:
            # A square default would stretch a 3:2 input: empty means "the input's shape".
            size = self.fields["size"]
            size.initial = None
            size.widget.attrs["placeholder"] = "Same shape as the input"
            size.help_text = "Output width x height in pixels; empty keeps the input's aspect ratio."

    def _resolve_refs(self, source, resolve_ref) -> None:
        """Each slot's kept inputs. Unbound (a mode switch, Remix) drops what does not fit quietly;
        a submit reports a reference it may not use as a field error, never uses it."""
        self.refs: dict[str, list[InputRef]] = {}
        self.ref_errors: dict[str, str] = {}
        for slot in self.spec.media:
            key = slot_ref_field(slot.name)
            if hasattr(source, "getlist"):
                raw = source.getlist(key)
            else:
                raw = source.get(key) or []
                raw = [raw] if isinstance(raw, str) else list(raw)
            refs = []
            for value in raw[:10]:
                ref = resolve_ref(value) if resolve_ref and value else None
                if ref is None or ref.kind != slot.kind:
                    if self.is_bound and value:
                        self.ref_errors[slot.name] = (
                            REF_GONE if ref is None else f"{slot.label} takes {slot.kind} files."
                        )
                    continue
                refs.append(ref)
            if not self.is_bound:
                refs = refs[: slot.max_count]
            self.refs[slot.name] = refs
            if refs:
                # Kept inputs count: the file input may stay empty.
                self.fields[slot_field(slot.name)].required = False

    def slot_refs(self, slot_name: str) -> list[InputRef]:
        return self.refs.get(slot_name, [])

    def add_kept_inputs(self, slot_name: str, refs: list[InputRef]) -> None:
        """Show inputs the view has just kept (a refused submit's files) as chips."""
        self.refs.setdefault(slot_name, []).extend(refs)

    def slot_views(self) -> list[SlotView]:
        return [
            SlotView(slot, self[slot_field(slot.name)], self.slot_refs(slot.name)) for slot in self.spec.media
        ]

    def refusal_message(self) -> str:
        """What the toast says after a refused submit."""
        if self.non_field_errors():
            return "Not generated: " + " ".join(self.non_field_errors())
        labels = []
        for name in self.errors:
            label = str(self[name].label) if name in self.fields else name
            labels.append("the prompt" if name == "prompt" else label)
        return "Not generated: check " + ", ".join(dict.fromkeys(labels)) + "."

    # Groups for the template.
    def basic_fields(self):
        return [self[n] for n in self.param_names if not self.spec.field(n).advanced]

    def advanced_fields(self):
        return [self[n] for n in self.param_names if self.spec.field(n).advanced]

    def media_fields(self):
        return [self[n] for n in self.slot_names]

    def clean(self):
        cleaned = super().clean()
        self.uploads = []
        self.new_uploads = []
        self.used_refs = []
        for slot in self.spec.media:
            field_name = slot_field(slot.name)
            if slot.name in self.ref_errors:
                self.add_error(field_name, self.ref_errors[slot.name])
            for ref in self.slot_refs(slot.name):
                try:
                    data = ref.read()
                    info = media.probe(
                        data,
                        filename=ref.name,
                        expected_kind=slot.kind,
                        max_bytes=slot.max_bytes,
                        min_duration=slot.min_seconds,
                        max_duration=slot.max_seconds,
                    )
                except FileNotFoundError:
                    self.add_error(field_name, REF_GONE)
                    continue
                except media.MediaError as exc:
                    self.add_error(field_name, f"{ref.name}: {exc}")
                    continue
                self.uploads.append(UploadedInput(slot=slot.name, data=data, filename=ref.name, info=info))
                self.used_refs.append(ref)
            files = cleaned.get(field_name) or []
            if not isinstance(files, list):
                files = [files]
            # Before reading any of them: the count alone decides (a single-file field would
            # otherwise quietly keep the last of several).
            sent = len(self.files.getlist(field_name)) if hasattr(self.files, "getlist") else len(files)
            if sent > slot.max_count:
                self.add_error(
                    field_name, f"{slot.label}: this model takes at most {slot.max_count} (got {sent})."
                )
                continue
            for upload in files:
                try:
                    data, info = probe_upload(upload, slot)
                except UploadRefused as exc:
                    self.add_error(field_name, str(exc))
                    continue
                kept = UploadedInput(slot=slot.name, data=data, filename=upload.name, info=info)
                self.uploads.append(kept)
                self.new_uploads.append(kept)
        return cleaned

    def refuse_uploads(self, message: str, *, field_name: str | None = None) -> None:
        """Show an upload refused by the request limits (wanweb/uploads.py) on its file field."""
        self.is_valid()  # bound without files: collect the other fields' errors first
        target = field_name if field_name in self.slot_names else (self.slot_names or [None])[0]
        if target is not None:
            self.errors.pop(target, None)  # "required" would only confuse: the files were sent
        self.add_error(target, message)

    def params(self) -> dict:
        """The parameters the user set; empty ones are left to the catalog's defaults."""
        params = {}
        for name in self.param_names:
            value = self.cleaned_data.get(name)
            if value is None or value == "":
                continue
            params[name] = value
        size = self.spec.field("size")
        if self.spec.mode == Mode.EDIT and "size" not in params and size is not None and size.default:
            image = next((u.info for u in self.uploads if u.info.kind == "image" and u.info.width), None)
            if image is not None:
                matched = catalog.size_like(size, image.width, image.height)
                if matched:
                    params["size"] = matched
        return params

    def add_validation_errors(self, errors: dict[str, list[str]]) -> None:
        """Put the catalog's RequestValidationError messages on the matching fields."""
        for name, messages in errors.items():
            if self.spec.slot(name) is not None:
                name = slot_field(name)
            self.add_error(name if name in self.fields else None, messages)
