from django.db import models


class SentReply(models.Model):
    """A reply the assistant sent: the example's stand-in for an outbound email.

    ``key`` is unique: sending is idempotent, so a step that runs again after a crash finds
    the reply it already sent instead of sending it twice.
    """

    key = models.CharField(max_length=255, unique=True)
    run_id = models.UUIDField(db_index=True)
    text = models.TextField()
    approved_by = models.CharField(max_length=255, null=True, blank=True)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sent_at", "id"]

    def __str__(self):
        return f"reply {self.key}"
