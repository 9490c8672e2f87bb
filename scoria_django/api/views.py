"""API views: thin, every write goes through the facade verbs, every read is tenant-scoped.

One run is read through the facade (``get_run``, ``get_run_detail``) and checked against
the caller's tenant (``scoping.visible``). Lists are tenant-scoped querysets of plain
summary rows, paginated by cursor: the facade has no such list.

No view assigns a status. Identity is built here from DRF's authenticated user, so token
and session clients both act as themselves; the tenant comes only from
``SCORIA_TENANT_RESOLVER`` (see ``scoping``).
"""

from collections.abc import Sequence

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import generics, status, viewsets
from rest_framework.decorators import action
from rest_framework.metadata import BaseMetadata
from rest_framework.parsers import BaseParser
from rest_framework.permissions import BasePermission, OperandHolder, SingleOperandHolder
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.schemas.inspectors import ViewInspector
from rest_framework.views import APIView

from ..exceptions import InvalidFilter
from ..names import check_text
from ..records import SUMMARY_VALUES, approval_row, event_row, step_row
from ..runtime.approvals import approve, get_approval, reject
from ..runtime.control import cancel_run, resume_run
from ..runtime.reads import get_run, get_run_detail
from ..runtime.start import start_handoff_run_reporting, start_run_reporting
from .exceptions import exception_handler
from .filters import ApprovalFilterSet, RunFilterSet, StrictFilterBackend
from .inputs import (
    ApproveInput,
    CancelInput,
    RejectInput,
    ResumeInput,
    StartHandoffInput,
    StartRunInput,
)
from .metadata import RouteMetadata
from .pagination import ApprovalCursorPagination, RunCursorPagination, SequenceCursorPagination
from .parsers import BoundedJSONParser
from .permissions import CanCancelRun, CanDecideApproval, CanResumeRun, IsAuthenticated
from .responses import error_responses
from .schema_shape import ScoriaAutoSchema, extend_operation
from .scoping import request_identity, visible, visible_approvals, visible_runs
from .serializers import (
    ApiRootSerializer,
    ApprovalSummarySerializer,
    EventSerializer,
    RunDetailSerializer,
    RunSummarySerializer,
    StepRowSerializer,
    summary_list_data,
)

READ_ERRORS = (400, 401, 403, 404)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Start at most once per key (per tenant): a repeat answers 200 with the same run; "
        "the key with a different request is 409 idempotency_key_reused."
    ),
)


def idempotency_key(request):
    """The ``Idempotency-Key`` header, or None when absent (a blank one is refused)."""
    return request.headers.get("Idempotency-Key")


def started_response(started):
    code = status.HTTP_201_CREATED if started.created else status.HTTP_200_OK
    return summary_response(started.summary, code)


RUN_ID = OpenApiParameter(
    "run_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The run's id.", required=True
)
APPROVAL_ID = OpenApiParameter(
    "approval_id",
    OpenApiTypes.UUID,
    OpenApiParameter.PATH,
    description="The approval's id.",
    required=True,
)


# Policies fixed on every view so a host's ``REST_FRAMEWORK`` defaults cannot loosen them.
# Authentication classes stay the host's: the API works with whatever scheme it uses. Only
# JSON is parsed; JSON is rendered, and DRF's browsable HTML for a logged-in browser that
# asks for it (errors stay JSON). OPTIONS answers with the route's name and ``Allow``.
class ScoriaAPIMixin:
    # Typed exactly as APIView declares them: mypy wants the same types where both bases meet.
    permission_classes: Sequence[type[BasePermission] | OperandHolder | SingleOperandHolder] = [
        IsAuthenticated
    ]
    parser_classes: Sequence[type[BaseParser]] = [BoundedJSONParser]
    renderer_classes: Sequence[type[BaseRenderer]] = [JSONRenderer, BrowsableAPIRenderer]
    metadata_class: str | type[BaseMetadata] | None = RouteMetadata
    schema: ViewInspector | None = ScoriaAutoSchema()

    def get_exception_handler(self):
        return exception_handler

    def handle_exception(self, exc):
        # Errors are JSON for every client, a browser on the browsable API too: one shape.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

    def validated(self, serializer_class):
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


def summary_response(summary, code=status.HTTP_200_OK):
    return Response(RunSummarySerializer(summary).data, status=code)


class RunViewSet(ScoriaAPIMixin, viewsets.GenericViewSet):
    lookup_url_kwarg = "run_id"
    lookup_value_regex = "[^/]+"
    serializer_class = RunSummarySerializer
    pagination_class = RunCursorPagination
    filter_backends = [StrictFilterBackend]
    filterset_class = RunFilterSet

    def get_queryset(self):
        return visible_runs(self.request)

    def get_serializer_class(self):
        # The browsable API's form for a POST shows what that POST accepts.
        if self.request is not None and self.request.method == "POST":
            return {"resume": ResumeInput, "cancel": CancelInput}.get(
                self.action or "", StartRunInput
            )
        return RunSummarySerializer

    @extend_operation(
        summary="List runs",
        description="The caller's tenant's runs, newest first, without large payloads.",
        responses={200: RunSummarySerializer(many=True), **error_responses(*READ_ERRORS)},
    )
    def list(self, request):
        runs = self.filter_queryset(self.get_queryset()).values(*SUMMARY_VALUES)
        return self.get_paginated_response(summary_list_data(self.paginate_queryset(runs)))

    @extend_operation(
        summary="Get a run's summary",
        description="One run of the caller's tenant; unknown and foreign ids are both 404.",
        parameters=[RUN_ID],
        responses={200: RunSummarySerializer, **error_responses(*READ_ERRORS)},
    )
    def retrieve(self, request, run_id=None):
        return summary_response(visible(request, get_run, run_id))

    @extend_operation(
        summary="Start a run",
        description="Starts a run as the caller; its first step's kind is a registered kind.",
        request=StartRunInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: RunSummarySerializer,
            200: OpenApiResponse(
                RunSummarySerializer, description="The run an earlier request with this key started"
            ),
            **error_responses(*WRITE_ERRORS),
        },
    )
    def create(self, request):
        data = self.validated(StartRunInput)
        step = data["initial_step"]
        started = start_run_reporting(
            request_identity(request),
            idempotency_key=idempotency_key(request),
            root_role_id=data["root_role_id"],
            initial_step={
                "kind": step["kind"],
                "role_id": step["role_id"],
                "input": step.get("input"),
            },
            input=data.get("input"),
            metadata=data.get("metadata"),
        )
        return started_response(started)

    @extend_operation(
        summary="Get a run's detail (steps, events, handoffs, delegated evidence)",
        description="Everything scoria.get_run_detail returns, for a run of the caller's tenant.",
        parameters=[RUN_ID],
        responses={200: RunDetailSerializer, **error_responses(*READ_ERRORS)},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="detail",
        url_name="full-detail",
        filter_backends=[],
        pagination_class=None,
    )
    def run_detail(self, request, run_id=None):
        return Response(RunDetailSerializer(visible(request, get_run_detail, run_id)).data)

    @extend_operation(
        summary="List a run's steps",
        description="In sequence order, without input, output or contexts (see detail/).",
        parameters=[RUN_ID],
        responses={200: StepRowSerializer(many=True), **error_responses(*READ_ERRORS)},
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        pagination_class=SequenceCursorPagination,
    )
    def steps(self, request, run_id=None):
        from ..models import Step

        run = visible(request, get_run, run_id)
        page = self.paginate_queryset(Step.objects.filter(run_id=run.run_id))
        rows = [step_row(step) for step in page]
        return self.get_paginated_response(StepRowSerializer(rows, many=True).data)

    @extend_operation(
        summary="List a run's events",
        description="The evidence timeline, in sequence order.",
        parameters=[RUN_ID],
        responses={200: EventSerializer(many=True), **error_responses(*READ_ERRORS)},
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        pagination_class=SequenceCursorPagination,
    )
    def events(self, request, run_id=None):
        from ..models import Event

        run = visible(request, get_run, run_id)
        page = self.paginate_queryset(Event.objects.filter(run_id=run.run_id))
        rows = [event_row(event) for event in page]
        return self.get_paginated_response(EventSerializer(rows, many=True).data)

    @extend_operation(
        summary="Resume a waiting run (approval) or retry a failed one",
        description="Needs the scoria_django.resume_run permission.",
        parameters=[RUN_ID],
        request=ResumeInput,
        responses={200: RunSummarySerializer, **error_responses(*WRITE_ERRORS)},
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[IsAuthenticated, CanResumeRun],
        filter_backends=[],
        pagination_class=None,
    )
    def resume(self, request, run_id=None):
        run = visible(request, get_run, run_id)
        data = self.validated(ResumeInput)
        summary = resume_run(
            run.run_id, identity=request_identity(request), input=data.get("input")
        )
        return summary_response(summary)

    @extend_operation(
        summary="Cancel a run and its unfinished steps",
        description="Needs the scoria_django.cancel_run permission.",
        parameters=[RUN_ID],
        request=CancelInput,
        responses={200: RunSummarySerializer, **error_responses(*WRITE_ERRORS)},
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[IsAuthenticated, CanCancelRun],
        filter_backends=[],
        pagination_class=None,
    )
    def cancel(self, request, run_id=None):
        run = visible(request, get_run, run_id)
        data = self.validated(CancelInput)
        summary = cancel_run(
            run.run_id, reason=data.get("reason"), identity=request_identity(request)
        )
        return summary_response(summary)


class ApprovalViewSet(ScoriaAPIMixin, viewsets.GenericViewSet):
    """The caller's tenant's approvals; decisions go through ``scoria.approve`` / ``reject``."""

    lookup_url_kwarg = "approval_id"
    lookup_value_regex = "[^/]+"
    serializer_class = ApprovalSummarySerializer
    pagination_class = ApprovalCursorPagination
    filter_backends = [StrictFilterBackend]
    filterset_class = ApprovalFilterSet

    def get_queryset(self):
        return visible_approvals(self.request)

    @extend_operation(
        summary="List approvals",
        description=(
            "The caller's tenant's approvals, oldest request first. Without status, only "
            "pending ones; status=any lists every status. mine=true keeps those the caller "
            "may decide (SCORIA_APPROVAL_POLICY)."
        ),
        responses={200: ApprovalSummarySerializer(many=True), **error_responses(*READ_ERRORS)},
    )
    def list(self, request):
        approvals = self.get_queryset()
        if not request.query_params.get("status"):
            approvals = approvals.pending()  # absent or empty: the inbox
        page = self.paginate_queryset(self.filter_queryset(approvals))
        rows = [approval_row(approval) for approval in page]
        return self.get_paginated_response(ApprovalSummarySerializer(rows, many=True).data)

    @extend_operation(
        summary="Get an approval",
        parameters=[APPROVAL_ID],
        responses={200: ApprovalSummarySerializer, **error_responses(*READ_ERRORS)},
    )
    def retrieve(self, request, approval_id=None):
        approval = visible(request, get_approval, approval_id)
        return Response(ApprovalSummarySerializer(approval).data)

    @extend_operation(
        summary="Approve a pending approval",
        description=(
            "Needs the scoria_django.decide_approval permission, and SCORIA_APPROVAL_POLICY "
            "must allow the caller (else 403 approval_not_allowed). Answers the run's summary."
        ),
        parameters=[APPROVAL_ID],
        request=ApproveInput,
        responses={200: RunSummarySerializer, **error_responses(*WRITE_ERRORS)},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="approve",
        url_name="approve",
        permission_classes=[IsAuthenticated, CanDecideApproval],
        filter_backends=[],
        pagination_class=None,
    )
    def approve_approval(self, request, approval_id=None):
        approval = visible(request, get_approval, approval_id)
        data = self.validated(ApproveInput)
        summary = approve(
            approval.run_id,
            approval_id=approval.approval_id,
            identity=request_identity(request),
            input=data.get("input"),
            arguments=data.get("arguments"),
            comment=data.get("comment"),
        )
        return summary_response(summary)

    @extend_operation(
        summary="Reject a pending approval",
        description=(
            "Needs the scoria_django.decide_approval permission, and SCORIA_APPROVAL_POLICY "
            "must allow the caller (else 403 approval_not_allowed). The step runs again with "
            "the rejection. Answers the run's summary."
        ),
        parameters=[APPROVAL_ID],
        request=RejectInput,
        responses={200: RunSummarySerializer, **error_responses(*WRITE_ERRORS)},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="reject",
        url_name="reject",
        permission_classes=[IsAuthenticated, CanDecideApproval],
        filter_backends=[],
        pagination_class=None,
    )
    def reject_approval(self, request, approval_id=None):
        approval = visible(request, get_approval, approval_id)
        data = self.validated(RejectInput)
        summary = reject(
            approval.run_id,
            approval_id=approval.approval_id,
            identity=request_identity(request),
            reason=data.get("reason"),
            input=data.get("input"),
        )
        return summary_response(summary)


class HandoffViewSet(ScoriaAPIMixin, viewsets.GenericViewSet):
    serializer_class = StartHandoffInput  # the browsable API's form

    @extend_operation(
        summary="Start a handoff run",
        description="A run whose first step hands a bounded, validated context to another role.",
        request=StartHandoffInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: RunSummarySerializer,
            200: OpenApiResponse(
                RunSummarySerializer, description="The run an earlier request with this key started"
            ),
            **error_responses(*WRITE_ERRORS),
        },
    )
    def create(self, request):
        data = self.validated(StartHandoffInput)
        started = start_handoff_run_reporting(
            request_identity(request),
            data["delegated_role_id"],
            idempotency_key=idempotency_key(request),
            root_role_id=data["root_role_id"],
            delegated_kind=data["delegated_kind"],
            handoff_input=data["handoff_input"],
            projected_context=data["projected_context"],
            capability_tags=data.get("capability_tags", ()),
            metadata=data.get("metadata"),
        )
        return started_response(started)


class SessionRunsView(ScoriaAPIMixin, generics.GenericAPIView):
    serializer_class = RunSummarySerializer
    pagination_class = RunCursorPagination

    @extend_operation(
        summary="List the runs of a session",
        description="The caller's tenant's runs of this session, newest first.",
        responses={200: RunSummarySerializer(many=True), **error_responses(*READ_ERRORS)},
    )
    def get(self, request, session_id):
        check_text(session_id, field="session_id", error=InvalidFilter)
        runs = visible_runs(request).filter(session_id=session_id).values(*SUMMARY_VALUES)
        return self.get_paginated_response(summary_list_data(self.paginate_queryset(runs)))


class ApiRootView(ScoriaAPIMixin, APIView):
    """The API's routes, as links: where a client or a browser starts."""

    @extend_operation(
        summary="The API's routes",
        tags=["root"],
        description="Links to the collections, the session list's URL template and the schema.",
        responses={200: ApiRootSerializer, **error_responses(*READ_ERRORS)},
    )
    def get(self, request):
        namespace = request.resolver_match.namespace

        def link(name, **kwargs):
            return reverse(f"{namespace}:{name}", kwargs=kwargs, request=request)

        session_runs = link("session-runs", session_id="SESSION").replace("SESSION", "{session_id}")
        return Response(
            {
                "runs": link("run-list"),
                "handoffs": link("handoff-list"),
                "session_runs": session_runs,
                "schema": link("schema"),
            }
        )
