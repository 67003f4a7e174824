from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model, password_validation

from wanweb.accounts.models import Role


class TeamForm(forms.Form):
    name = forms.CharField(max_length=80, widget=forms.TextInput(attrs={"placeholder": "e.g. Studio North"}))


class InviteForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)
    days = forms.IntegerField(min_value=1, max_value=30, initial=7, label="Valid for (days)")

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        if actor is not None and not actor.is_owner:
            self.fields["role"].choices = [c for c in Role.choices if c[0] != Role.OWNER]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class InviteSignupForm(forms.Form):
    """A new account for someone who followed an invite link: no mail server needed."""

    username = forms.CharField(max_length=150, help_text="Letters, digits and @/./+/-/_ only.")
    password1 = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput)
    password2 = forms.CharField(label="Password again", strip=False, widget=forms.PasswordInput)

    def clean_username(self):
        username = self.cleaned_data["username"]
        user_model = get_user_model()
        user_model.username_validator(username)
        if user_model.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("That username is taken.")
        return username

    def clean(self):
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords differ.")
        elif p1:
            user = get_user_model()(username=cleaned.get("username", ""))
            try:
                password_validation.validate_password(p1, user)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class VendorKeyForm(forms.Form):
    """A team's key for one vendor. Never rendered back: the inputs are always empty."""

    api_key = forms.CharField(
        label="API key",
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    webhook_secret = forms.CharField(
        label="Webhook secret (whsec_…, optional)",
        required=False,
        max_length=500,
        help_text="Verify fetches it from Lumenfall when left empty.",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args, vendor: str = "", **kwargs):
        kwargs.setdefault("auto_id", f"id_{vendor}_%s")  # one form per vendor on the page: unique ids
        super().__init__(*args, **kwargs)
        self.vendor = vendor
        if vendor != "lumenfall":
            del self.fields["webhook_secret"]

    def clean_api_key(self):
        key = self.cleaned_data["api_key"].strip()
        if any(c.isspace() or ord(c) < 32 for c in key) or len(key) < 8:
            raise forms.ValidationError(
                "That does not look like an API key (no spaces, at least 8 characters)."
            )
        return key

    def clean_webhook_secret(self):
        secret = self.cleaned_data.get("webhook_secret", "").strip()
        if secret and (not secret.startswith("whsec_") or any(c.isspace() for c in secret)):
            raise forms.ValidationError("A Lumenfall webhook secret starts with whsec_.")
        return secret
