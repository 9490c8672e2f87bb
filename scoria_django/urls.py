# Filled by the operator evidence page work (issue 5):
# path("workflows/<uuid:run_id>/", ..., name="workflow_detail") under app_name "scoria".
app_name = "scoria"
urlpatterns = []
