/* claimdesk: the Claims page's table, filtered and searched in the browser from claims.json.
   Every value is written with textContent, never as HTML. */
(function () {
  "use strict";
  var LIMIT = 500;

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (className) { node.className = className; }
    return node;
  }

  function start() {
    var app = document.getElementById("cd-claims-app");
    if (!app) { return; }
    var root = app.getAttribute("data-root");
    var count = document.getElementById("cd-count");
    fetch(app.getAttribute("data-src")).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    }).then(function (data) {
      var col = {};
      data.columns.forEach(function (name, i) { col[name] = i; });
      var rows = data.rows;
      var searchable = rows.map(function (r) {
        return [r[col.id], r[col.text], r[col.metric], r[col.value], r[col.page], r[col.reason]].join(" ").toLowerCase();
      });
      var selects = Array.prototype.slice.call(app.querySelectorAll("select[data-column]"));
      selects.forEach(function (select) {
        var column = col[select.getAttribute("data-column")];
        var values = {};
        rows.forEach(function (r) {
          var v = r[column];
          (Array.isArray(v) ? v : [v]).forEach(function (item) { if (item) { values[item] = true; } });
        });
        Object.keys(values).sort().forEach(function (value) {
          var option = element("option", value);
          option.value = value;
          select.appendChild(option);
        });
        select.addEventListener("change", draw);
      });
      var search = document.getElementById("cd-q");
      search.addEventListener("input", draw);
      /* Filters can come in the address: #stance=bull&tags=margins (Bull vs bear and Sources link so). */
      location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
        var at = pair.indexOf("=");
        if (at < 1) { return; }
        var key, value;
        try {
          key = decodeURIComponent(pair.slice(0, at));
          value = decodeURIComponent(pair.slice(at + 1));
        } catch (error) {
          return;  /* a malformed address: no filter */
        }
        if (key === "q") { search.value = value; return; }
        selects.forEach(function (select) {
          if (select.getAttribute("data-column") === key) { select.value = value; }
        });
      });
      var body = app.querySelector("#cd-table tbody");

      function matches(r, i, query) {
        for (var s = 0; s < selects.length; s++) {
          var wanted = selects[s].value;
          if (!wanted) { continue; }
          var v = r[col[selects[s].getAttribute("data-column")]];
          if (Array.isArray(v) ? v.indexOf(wanted) < 0 : v !== wanted) { return false; }
        }
        return !query || searchable[i].indexOf(query) >= 0;
      }

      function draw() {
        var query = search.value.trim().toLowerCase();
        var shown = 0;
        var total = 0;
        var fragment = document.createDocumentFragment();
        rows.forEach(function (r, i) {
          if (!matches(r, i, query)) { return; }
          total += 1;
          if (shown >= LIMIT) { return; }
          shown += 1;
          var tr = element("tr");
          tr.setAttribute("data-status", r[col.status]);
          tr.setAttribute("data-stance", r[col.stance]);
          var claim = element("td");
          var link = element("a", r[col.text]);
          link.href = root + r[col.url];
          claim.appendChild(link);
          claim.appendChild(element("div", r[col.id], "cd-id"));
          tr.appendChild(claim);
          tr.appendChild(element("td", r[col.stance], "cd-stance cd-" + r[col.stance]));
          tr.appendChild(element("td", r[col.value]));
          tr.appendChild(element("td", r[col.as_of]));
          var status = element("td");
          status.appendChild(element("span", r[col.status], "cd-badge cd-st-" + String(r[col.status]).replace(/ /g, "-")));
          status.title = r[col.reason];
          tr.appendChild(status);
          tr.appendChild(element("td", r[col.page]));
          fragment.appendChild(tr);
        });
        body.textContent = "";
        body.appendChild(fragment);
        count.textContent = total + " of " + rows.length + " claims" + (total > shown ? " (showing the first " + shown + ")" : "");
      }
      draw();
    }).catch(function (error) {
      count.textContent = "The claims could not be loaded (" + error.message + "); every claim is also on its page.";
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
