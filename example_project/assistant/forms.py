from django import forms


class PromptForm(forms.Form):
    prompt = forms.CharField(
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Ask the assistant..."}),
    )


class ApprovalForm(forms.Form):
    note = forms.CharField(max_length=500, required=False)


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)
