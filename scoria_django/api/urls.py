# Filled by the API work (issue 5): mounted with path("api/scoria/", include(...)).
urlpatterns = []
