/* Live run pages, no framework: subscribe to the run's event stream (EventSource) and,
 * after each burst of events, re-render the page's live sections from the server.
 *
 *   <script src=".../live.js" data-stream-url="<stream url>?after=<last shown sequence>"
 *           data-event-types="run_started step_queued ..." defer></script>
 *
 * Every element with a `data-scoria-live` attribute and an id is replaced by the element
 * of the same id in a fresh render of this page, so the page shows what a reload would,
 * without one. A section holding the focused field is left alone until the next burst
 * (nobody loses what they are typing). When the connection drops, the browser reconnects
 * and sends the last `id:` it received as `Last-Event-ID`: the stream continues after it.
 * The run's ending closes the subscription; the server also ends the stream then.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var url = script && script.dataset.streamUrl;
  if (!url || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var types = (script.dataset.eventTypes || "").split(/\s+/).filter(Boolean);
  var endings = ["run_completed", "run_failed", "run_cancelled"];
  var root = document.documentElement;
  var timer = null;
  var inFlight = false;
  var again = false;

  function focusedIn(section) {
    var active = document.activeElement;
    return active && active !== document.body && section.contains(active);
  }

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    document.querySelectorAll("[data-scoria-live][id]").forEach(function (section) {
      var next = fresh.getElementById(section.id);
      if (next && !focusedIn(section)) {
        section.replaceWith(document.adoptNode(next));
      }
    });
  }

  function refresh() {
    timer = null;
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html) { swap(html); } })
      .catch(function () { /* the next event or reconnection refreshes again */ })
      .then(function () {
        inFlight = false;
        root.dataset.scoriaRefreshed = String(Date.now());
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  var source = new EventSource(url, { withCredentials: true });

  function onEvent(event) {
    root.dataset.scoriaLastEventId = event.lastEventId;
    if (endings.indexOf(event.type) !== -1) {
      source.close();
      root.dataset.scoriaStream = "ended";
    }
    if (timer === null) {
      timer = window.setTimeout(refresh, 100);  // one re-render per burst of events
    }
  }

  types.forEach(function (type) { source.addEventListener(type, onEvent); });
  source.addEventListener("open", function () { root.dataset.scoriaStream = "open"; });
  source.addEventListener("error", function () {
    // EventSource.CLOSED: the server said there is nothing more (204) or refused.
    root.dataset.scoriaStream = source.readyState === 2 ? "closed" : "reconnecting";
  });
})();
