from django import forms


class PromptForm(forms.Form):
    prompt = forms.CharField(
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Ask the assistant..."}),
    )


class ApprovalForm(forms.Form):
    # The approval the page shows: required, so a post never approves every pending call.
    approval_id = forms.UUIDField(
        widget=forms.HiddenInput,
        error_messages={"required": "the page did not name the approval to decide"},
    )
    # The reply to send: the agent's draft, as the approver leaves or edits it.
    draft = forms.CharField(
        max_length=4000, required=False, strip=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    note = forms.CharField(max_length=500, required=False)


class RejectForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)
