from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, permissions, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from glossary.api import StaleSerializer
from notes.models import Note, StaleNoteRevision
from notes.serializers import (HideSerializer, NoteFilterSerializer, NoteSerializer, NoteWriteSerializer,
                               ReportSerializer)


class IsAuthorOrStaffOrReadOnly(permissions.BasePermission):
    """Anyone who may see a note reads it; only its author or staff change or delete it."""

    def has_object_permission(self, request, view, note):
        return request.method in permissions.SAFE_METHODS or note.can_edit(request.user)


def visible_notes(request):
    return Note.objects.visible_to(request.user).select_related("entry", "author")


class NoteList(generics.ListCreateAPIView):
    """Notes the caller may read, newest first; members create notes."""

    serializer_class = NoteSerializer

    def get_queryset(self):
        filters = NoteFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        return visible_notes(self.request).filtered(
            entry=params.get("entry", ""), author=params.get("author", ""),
            visibility=params.get("visibility", ""), text=params.get("q", ""))

    @extend_schema(parameters=[NoteFilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=NoteWriteSerializer, responses={201: NoteSerializer})
    def post(self, request, *args, **kwargs):
        data = NoteWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = Note(author=request.user)
        note.apply_edit(data.content(), author=request.user,
                        message=data.validated_data.get("message") or "Created")
        return Response(NoteSerializer(visible_notes(request).get(pk=note.pk)).data,
                        status=status.HTTP_201_CREATED)


class NoteDetail(generics.RetrieveUpdateDestroyAPIView):
    """One note. Notes the caller may not read answer 404, as if they did not exist."""

    serializer_class = NoteSerializer
    permission_classes = [permissions.IsAuthenticatedOrReadOnly, IsAuthorOrStaffOrReadOnly]
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return visible_notes(self.request)

    @extend_schema(request=NoteWriteSerializer, responses={200: NoteSerializer, 409: StaleSerializer})
    def patch(self, request, *args, **kwargs):
        note = self.get_object()
        data = NoteWriteSerializer(note, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            note.apply_edit(data.content(), author=request.user,
                            base_revision=data.validated_data["revision"],
                            message=data.validated_data.get("message", ""))
        except StaleNoteRevision as stale:
            return Response({"detail": str(stale), "revision": stale.current.revision,
                             "current": NoteSerializer(stale.current).data},
                            status=status.HTTP_409_CONFLICT)
        return Response(NoteSerializer(visible_notes(request).get(pk=note.pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, *args, **kwargs):
        """Moves the note to the trash; staff can restore it for 30 days."""
        return super().delete(request, *args, **kwargs)

    def perform_destroy(self, note):
        note.soft_delete(by=self.request.user)


@extend_schema(request=ReportSerializer, responses={201: ReportSerializer})
@api_view(["POST"])
@permission_classes([permissions.IsAuthenticated])
def report_note(request, pk):
    """Report a note to staff (members; not the author). One open report per person and note:
    reporting again replaces the reason."""
    note = generics.get_object_or_404(visible_notes(request), pk=pk)
    if not note.can_report(request.user):
        raise exceptions.PermissionDenied("You wrote this note: edit or delete it instead.")
    data = ReportSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    report = note.report(request.user, data.validated_data["reason"])
    return Response(ReportSerializer(report).data, status=status.HTTP_201_CREATED)


@extend_schema(request=HideSerializer, responses={200: NoteSerializer})
@api_view(["POST"])
@permission_classes([permissions.IsAdminUser])
def hide_note(request, pk):
    """Staff only: hide a note from everyone but its author and staff."""
    note = generics.get_object_or_404(visible_notes(request), pk=pk)
    data = HideSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    note.hide(request.user, data.validated_data.get("reason", ""))
    return Response(NoteSerializer(note).data)


@extend_schema(request=None, responses={200: NoteSerializer})
@api_view(["POST"])
@permission_classes([permissions.IsAdminUser])
def unhide_note(request, pk):
    """Staff only: show a hidden note again."""
    note = generics.get_object_or_404(visible_notes(request), pk=pk)
    note.unhide(request.user)
    return Response(NoteSerializer(note).data)
