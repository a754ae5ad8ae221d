// Refreshes the dashboard's sections every 2 s from "?partial=1",
// replacing only the sections whose HTML changed, keeping open
// explanations open and never interrupting a recording being played.
(function () {
  "use strict";
  var every = 2000;
  var status = document.getElementById("status");
  var last = {};
  document.querySelectorAll("#sections > section[id]").forEach(function (s) {
    last[s.id] = s.innerHTML;
  });

  function playing(el) {
    var a = el.querySelectorAll("audio");
    for (var i = 0; i < a.length; i++) {
      if (!a[i].paused && !a[i].ended) return true;
    }
    return false;
  }

  function swap(cur, fresh) {
    var open = {};
    cur.querySelectorAll("details[open]").forEach(function (d) {
      open[d.getAttribute("data-key")] = true;
    });
    cur.innerHTML = fresh.innerHTML;
    cur.querySelectorAll("details").forEach(function (d) {
      if (open[d.getAttribute("data-key")]) d.open = true;
    });
  }

  function apply(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    doc.querySelectorAll("section[id]").forEach(function (fresh) {
      var cur = document.getElementById(fresh.id);
      if (!cur || last[fresh.id] === fresh.innerHTML || playing(cur)) return;
      swap(cur, fresh);
      last[fresh.id] = fresh.innerHTML;
    });
  }

  function show(text, bad) {
    status.textContent = text;
    status.className = bad ? "status bad" : "status";
  }

  function refresh() {
    fetch(location.pathname + "?partial=1", { cache: "no-store", credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (html) {
        apply(html);
        show("live, updated " + new Date().toLocaleTimeString(), false);
      })
      .catch(function (e) {
        show("refresh failed: " + e.message + " (retrying)", true);
      })
      .then(function () {
        setTimeout(refresh, every);
      });
  }

  setTimeout(refresh, every);
})();
