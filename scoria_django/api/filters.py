"""The run and approval lists' FilterSets: explicit fields only, and every bad value is a 400."""

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.settings import api_settings

from ..exceptions import InvalidFilter, UnsupportedFilter
from ..models import Approval, Run
from ..names import check_text
from ..records import ApprovalSummary
from ..runtime.approvals import may_decide
from ..states import ApprovalStatus, RunStatus
from .instants import to_utc


class UTCDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        normalised = to_utc(value)
        if normalised is None:
            raise forms.ValidationError("Enter a date/time in range.", code="invalid")
        return normalised


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    """ISO 8601 date/time; any offset is accepted and converted to UTC."""

    field_class = UTCDateTimeField


class RunFilterSet(django_filters.FilterSet):
    session_id = django_filters.CharFilter(field_name="session_id", max_length=255)
    thread_id = django_filters.CharFilter(field_name="thread_id", max_length=255)
    parent_run_id = django_filters.UUIDFilter(field_name="parent_run_id")
    kind = django_filters.CharFilter(field_name="kind", max_length=100)
    status = django_filters.ChoiceFilter(field_name="status", choices=RunStatus.choices)
    root_role_id = django_filters.CharFilter(field_name="root_role_id", max_length=255)
    created_after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")
    updated_after = UTCDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    updated_before = UTCDateTimeFilter(field_name="updated_at", lookup_expr="lt")

    class Meta:
        model = Run
        fields: list[str] = []  # only the filters declared above


ANY_STATUS = "any"
BOOLEAN = (("true", "true"), ("false", "false"))


class ApprovalFilterSet(django_filters.FilterSet):
    """``status`` absent means ``pending`` (the view applies it), ``any`` means every status.

    ``mine`` asks ``SCORIA_APPROVAL_POLICY`` about each approval the other filters kept, so
    it is declared last: django-filter applies filters in declaration order.
    """

    status = django_filters.ChoiceFilter(
        choices=[*ApprovalStatus.choices, (ANY_STATUS, "Any status")], method="filter_status"
    )
    run_id = django_filters.UUIDFilter(field_name="run_id")
    mine = django_filters.ChoiceFilter(choices=BOOLEAN, method="filter_mine")

    class Meta:
        model = Approval
        fields: list[str] = []

    def filter_status(self, queryset, name, value):
        return queryset if value == ANY_STATUS else queryset.filter(status=value)

    def filter_mine(self, queryset, name, value):
        if value != "true":
            return queryset
        from .scoping import request_identity

        caller = request_identity(self.request)
        mine = [
            approval.pk
            for approval in queryset
            if may_decide(ApprovalSummary.from_approval(approval), caller)
        ]
        return queryset.filter(pk__in=mine)


def check_filter_values(pairs):
    """Every filter value is non-empty, storable text: ``?status=`` is an error, not "any
    status" (the schema says a filter value has at least one character)."""
    for name, value in pairs:
        if value == "":
            raise InvalidFilter(f"{name}: an empty value filters nothing", field=name)
        check_text(value, field=name, error=InvalidFilter)


class StrictFilterBackend(DjangoFilterBackend):
    """Unknown query parameters and invalid filter values raise instead of being ignored.

    A misspelt filter (``?stauts=failed``) silently listing every run is worse than an error.
    """

    # Query parameters that belong to pagination or content negotiation, not to the FilterSet.
    passthrough = ("cursor", "page_size")

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        allowed = {*filterset.filters, *self.passthrough, api_settings.URL_FORMAT_OVERRIDE}
        for name in request.query_params:
            if name not in allowed:
                raise UnsupportedFilter(f"unsupported filter {name!r}", field=name)
        check_filter_values(
            (name, value)
            for name, value in request.query_params.items()
            if name in filterset.filters
        )
        # An absent filter filters nothing: its form field need not be built and cleaned on
        # every request (most of a FilterSet's cost).
        filterset.filters = {
            name: filter_
            for name, filter_ in filterset.filters.items()
            if name in request.query_params
        }
        if not filterset.filters:
            return queryset
        if not filterset.is_valid():
            name, messages = next(iter(filterset.errors.items()))
            raise InvalidFilter(f"{name}: {' '.join(messages)}", field=name)
        return filterset.qs
