"""Input of the approval pages. Forms only parse: the rules live in approvals.services."""

from __future__ import annotations

from django import forms

from approvals.choices import DecisionKind


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=DecisionKind.choices)
    notes = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)
    # The payload hash the person saw: an edit since then refuses the decision.
    expected_hash = forms.CharField(required=False, max_length=64)


class BulkDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=DecisionKind.choices)
    notes = forms.CharField(required=False, max_length=5000)
    ids = forms.TypedMultipleChoiceField(required=False, coerce=str)
    # "Select all matching": the queue's filter query string instead of a list of ids.
    all_matching = forms.BooleanField(required=False)
    filter_query = forms.CharField(required=False, max_length=2000)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Ids are checked by the service (missing and forbidden alike answer "not found").
        self.fields["ids"].valid_value = lambda value: True  # type: ignore[method-assign]

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("all_matching") and not data.get("ids"):
            raise forms.ValidationError("Select at least one action.")
        return data


class MarkReadForm(forms.Form):
    ids = forms.TypedMultipleChoiceField(required=False, coerce=int)
    all = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ids"].valid_value = lambda value: True  # type: ignore[method-assign]
