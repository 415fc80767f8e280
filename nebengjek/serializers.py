"""Shared output-serializer helpers: the schema of a pushed event as it is stored and replayed."""

from rest_framework import serializers


def event_message_serializer(name: str, types: list[str], **payload_fields) -> type[serializers.Serializer]:
    """The serializer that documents one kind of pushed event: `{"type", "seq", **payload}` (nebengjek.models.Event
    .as_message), `types` the event types sharing this payload. Documentation only: the pushes build their payload
    with the domain's output serializers."""
    fields = {
        "type": serializers.ChoiceField(choices=[(type, type) for type in types]),
        "seq": serializers.IntegerField(help_text="Increasing per user; resume after the last one seen."),
        **payload_fields,
    }
    return type(
        f"{name}Serializer", (serializers.Serializer,), {**fields, "Meta": type("Meta", (), {"ref_name": name})}
    )
