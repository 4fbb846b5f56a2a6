/* geo_ops planner dashboard: the day's route plans of a department (fieldteams.routing).
 *
 * Reads /api/v1/routes/ for the chosen department and day, keeps the newest finished plan of
 * each scope (a branch, or a crew), and draws every crew's route line with its stops numbered in
 * route order (jobs as circles, hotspot cleanups as squares, disposal sites in grey), a summary
 * per plan and per crew beside the map, and the stops each plan left out with the reason.
 * "Plan cleanup rounds" asks for a plan of the department in the branch chosen in the filters
 * with the hotspot-cleanup stops included. Runs after planner.js (GeoOpsPlanner.map); text comes
 * translated from the page's JSON config. Plain ES2017, no build step.
 */
(function () {
  "use strict";

  var COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
    "#a6761d", "#1f78b4", "#b2df8a", "#fb9a99", "#6a3d9a", "#b15928"];
  var map = window.GeoOpsPlanner && window.GeoOpsPlanner.map;
  if (!map) return;
  var config = JSON.parse(document.getElementById("planner-config").textContent);
  var labels = config.labels.routes;
  var urls = config.urls;
  var body = document.body;
  var form = document.getElementById("route-form");
  var status = document.getElementById("route-status");
  var list = document.getElementById("route-plans");
  var locale = config.language === "ar" ? "ar-u-nu-latn" : "en-GB";
  var km = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });

  map.createPane("routes").style.zIndex = 440;
  var layer = L.featureGroup().addTo(map);

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) {
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    });
    return node;
  }

  function format(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, key) { return values[key]; });
  }

  function mark(name, value) { body.setAttribute("data-" + name, String(value)); }

  function clock(iso) { return iso ? iso.slice(11, 16) : ""; } // the server sends local time

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(url + ": " + response.status);
        return response.json();
      });
  }

  function stopLabel(stop) {
    if (stop.report) return stop.report.tracking_number;
    if (stop.kind === "hotspot") return labels.hotspot + " " + stop.hotspot;
    if (stop.disposal_site) return labels.disposal + " " + stop.disposal_site.code;
    return labels[stop.kind] || stop.kind;
  }

  function drawRoute(route, colour) {
    if (route.geometry) {
      L.geoJSON(route.geometry, {
        pane: "routes",
        style: { color: colour, weight: 4, opacity: 0.85, className: "route-line" },
      }).bindTooltip(route.crew.code).addTo(layer);
    }
    var number = 0;
    route.stops.forEach(function (stop) {
      if (["job", "unassigned", "hotspot", "disposal"].indexOf(stop.kind) < 0) return;
      var text = stop.kind === "disposal" ? "D" : String(++number);
      var icon = L.divIcon({
        className: "route-stop",
        html: '<span class="route-stop-label is-' + stop.kind + '" style="border-color:' + colour +
          '">' + text + "</span>",
        iconSize: [22, 18],
        iconAnchor: [11, 9],
      });
      L.marker([stop.location[1], stop.location[0]], { icon: icon, keyboard: false })
        .bindTooltip(route.crew.code + " · " + text + " · " + clock(stop.arrival_at) + " · " +
          stopLabel(stop))
        .addTo(layer);
    });
  }

  function planSection(plan, colourOf) {
    var t = plan.totals;
    var title = format(labels.plan, { id: plan.id }) + (plan.branch ? " · " +
      (config.branchNames[plan.branch] || plan.branch) : "") + (plan.crew ? " · " + plan.crew : "") +
      (plan.options && plan.options.include_hotspots ? " · " + labels.cleanup : "");
    var rows = plan.routes.map(function (route) {
      var rt = route.totals;
      return el("div", { class: "route-row", "data-crew": route.crew.code }, [
        el("span", { class: "route-swatch", style: "background:" + colourOf(route) }),
        el("strong", { text: route.crew.code }),
        " " + format(labels.stops, { n: rt.jobs }) + " · " + km.format(rt.distance_m / 1000) +
          " km · " + clock(route.start_at) + "–" + clock(route.end_at) +
          (rt.trips > 1 ? " · " + format(labels.trips, { n: rt.trips }) : ""),
      ]);
    });
    var drops = plan.dropped.length ? el("ul", { class: "route-drops" }, plan.dropped.map(function (d) {
      var what = d.report ? d.report.tracking_number : labels.hotspot + " " + d.hotspot;
      return el("li", { text: labels.leftOut + ": " + what + " — " + d.detail });
    })) : null;
    return el("div", { class: "route-plan", "data-plan": String(plan.id) }, [
      el("h3", { text: title }),
      el("p", { text: format(labels.stops, { n: t.jobs_planned }) + " · " +
        format(labels.left, { n: t.jobs_dropped }) + " · " + km.format(t.distance_m / 1000) + " km" }),
    ].concat(rows).concat([drops]));
  }

  function draw(plans) {
    layer.clearLayers();
    list.textContent = "";
    var next = 0;
    var colours = {};
    function colourOf(route) {
      var key = route.id;
      if (!(key in colours)) colours[key] = COLOURS[next++ % COLOURS.length];
      return colours[key];
    }
    var lines = 0;
    plans.forEach(function (plan) {
      plan.routes.forEach(function (route) {
        drawRoute(route, colourOf(route));
        if (route.geometry) lines += 1;
      });
      list.appendChild(planSection(plan, colourOf));
    });
    status.textContent = plans.length ? "" : labels.none;
    if (lines) map.fitBounds(layer.getBounds(), { padding: [30, 30], maxZoom: 15 });
    mark("route-plans", plans.length);
    mark("route-lines", lines);
  }

  var loadNumber = 0;
  function load() {
    var number = ++loadNumber;
    mark("route-busy", 1);
    status.textContent = labels.loading;
    var params = new URLSearchParams({
      department: form.elements.department.value, date: form.elements.date.value, status: "done",
    });
    return getJSON(urls.routePlans + "?" + params.toString())
      .then(function (data) {
        // The newest finished plan of each scope (results come newest first).
        var seen = {};
        var newest = data.results.filter(function (plan) {
          var key = (plan.branch || "") + "/" + (plan.crew || "");
          if (seen[key]) return false;
          seen[key] = true;
          return true;
        });
        return Promise.all(newest.map(function (plan) { return getJSON(plan.url); }));
      })
      .then(function (plans) {
        if (number !== loadNumber) return;
        draw(plans);
        mark("route-busy", 0);
        mark("route-loads", Number(body.getAttribute("data-route-loads") || 0) + 1);
      })
      .catch(function () {
        if (number !== loadNumber) return;
        status.textContent = labels.failed;
        mark("route-busy", 0);
      });
  }

  function planCleanup() {
    var branch = document.getElementById("filter-branch").value;
    if (!branch) {
      status.textContent = labels.chooseBranch;
      return;
    }
    var button = document.getElementById("route-cleanup");
    button.disabled = true;
    status.textContent = labels.planning;
    fetch(urls.routePlanCreate, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({
        department: form.elements.department.value,
        branch: branch,
        date: form.elements.date.value,
        options: { include_hotspots: true },
      }),
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return load();
    }).catch(function () {
      status.textContent = labels.planFailed;
    }).then(function () {
      button.disabled = false;
    });
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); load(); });
  form.elements.department.addEventListener("change", load);
  document.getElementById("route-cleanup").addEventListener("click", planCleanup);
  load();
  window.GeoOpsPlannerRoutes = { load: load, layer: layer };
})();
