"""Forms with the event image upload field (organizer page and admin share it)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from boxoffice.models import Event
from boxoffice.uploads import MAX_BYTES, check_image, human_bytes


class EventImageField(forms.FileField):
    """A file checked by content (boxoffice.uploads.check_image), renamed to a random name."""

    default_error_messages = {"required": "Choose an image file to upload."}

    def to_python(self, data: Any) -> Any:
        upload = super().to_python(data)
        if isinstance(upload, UploadedFile):
            checked = check_image(upload.file, upload.size or 0)  # ValidationError -> the field's message
            upload.name = checked.stored_name()
            upload.content_type = checked.content_type
        return upload


HELP = f"JPEG, PNG, WebP or GIF, up to {human_bytes(MAX_BYTES)}; checked by content, not by name."


class EventImageForm(forms.Form):
    image = EventImageField(help_text=HELP)


class EventAdminForm(forms.ModelForm):
    image = EventImageField(required=False, help_text=HELP, widget=forms.ClearableFileInput)

    class Meta:
        model = Event
        fields = "__all__"
