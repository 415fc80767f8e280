"""The ride's chat over REST (rides/chat.py): the history, and the twins of the socket's chat.send/chat.receipt."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from rides import chat


class ChatMessageOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    ride_id = serializers.UUIDField()
    sender = serializers.ChoiceField(choices=["passenger", "driver"])
    text = serializers.CharField()
    quick_reply = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    read_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, instance):
        return chat.chat_message_payload(instance)


class ChatMessageInputSerializer(serializers.Serializer):
    # Shape checked by the service (exactly one of text / a known quick_reply): invalid_chat_message.
    text = serializers.JSONField(required=False, allow_null=True)
    quick_reply = serializers.JSONField(required=False, allow_null=True)
    client_id = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")


class ChatReceiptInputSerializer(serializers.Serializer):
    message_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=list(chat.RECEIPT_STATUSES))


class ChatReceiptOutputSerializer(serializers.Serializer):
    updated = serializers.IntegerField()


class ChatPagination(PageNumberPagination):
    page_size = settings.RIDE_CHAT_PAGE_SIZE


class RideMessageListApi(ListAPIView):
    """GET: a page of the ride's chat, oldest first (its passenger and driver only). POST: send a message."""

    serializer_class = ChatMessageOutputSerializer
    pagination_class = ChatPagination

    def get_queryset(self):
        return chat.chat_messages_for_side(ride_id=self.kwargs["ride_id"], user_id=self.request.user.pk)

    @extend_schema(request=ChatMessageInputSerializer, responses={201: ChatMessageOutputSerializer})
    def post(self, request, ride_id):
        data = ChatMessageInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = chat.chat_message_send(
            ride_id=ride_id,
            user_id=request.user.pk,
            text=data.validated_data.get("text"),
            quick_reply=data.validated_data.get("quick_reply"),
            client_id=data.validated_data["client_id"],
        )
        return Response(chat.chat_message_payload(message), status=status.HTTP_201_CREATED)


class RideMessageReceiptApi(APIView):
    @extend_schema(request=ChatReceiptInputSerializer, responses={200: ChatReceiptOutputSerializer})
    def post(self, request, ride_id):
        data = ChatReceiptInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        updated = chat.chat_receipt(
            ride_id=ride_id,
            user_id=request.user.pk,
            message_id=str(data.validated_data["message_id"]),
            status=data.validated_data["status"],
        )
        return Response({"updated": updated})
