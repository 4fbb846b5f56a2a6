/* geo_ops planner dashboard.
 *
 * folium builds the Leaflet map; this script adds the layers it reads from the planner API for
 * the filters in the form: the kernel-density heatmap (a PNG drawn by the server for the view),
 * DBSCAN clusters with their hulls, Gi* hexagons coloured by confidence bin, branch boundaries;
 * the KPI table beside the map; the download links; and "create preventive work" in a cluster's
 * popup. A filter change reloads the layers without reloading the page. Text comes translated
 * from the page's JSON config. Plain ES2017, no build step, no request outside the app.
 */
(function () {
  "use strict";

  var BIN_COLOURS = {
    "3": "#b2182b", "2": "#ef8a62", "1": "#fddbc7", "0": "#bdbdbd",
    "-1": "#d1e5f0", "-2": "#67a9cf", "-3": "#2166ac",
  };
  var TREND_COLOURS = {
    new: "#7b3294", intensifying: "#d7191c", persistent: "#fdae61",
    diminishing: "#2c7bb6", sporadic: "#636363",
  };

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

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function start(map, configId) {
    var config = JSON.parse(document.getElementById(configId).textContent);
    var labels = config.labels;
    var locale = config.language === "ar" ? "ar-u-nu-latn" : "en-GB";
    var numbers = new Intl.NumberFormat(locale, { maximumFractionDigits: 2 });
    var percent = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 0 });
    var dates = new Intl.DateTimeFormat(locale, { year: "numeric", month: "short", day: "numeric" });
    var form = document.getElementById("planner-filters");
    var status = document.getElementById("planner-status");
    var body = document.body;
    GeoOpsPlanner.map = map;

    function mark(name, value) { body.setAttribute("data-" + name, String(value)); }
    function counter(name) { return Number(body.getAttribute("data-" + name) || 0); }
    mark("planner-busy", 1);

    map.createPane("hexagons").style.zIndex = 410;
    map.createPane("hulls").style.zIndex = 420;
    map.createPane("outlines").style.zIndex = 430;
    map.getPane("outlines").style.pointerEvents = "none";

    var heatmap = L.imageOverlay("data:image/gif;base64,R0lGODlhAQABAAAAACw=", map.getBounds(), {
      opacity: 0.85, className: "heatmap-layer",
    });
    var clusters = L.featureGroup();
    var hexagons = L.featureGroup();
    var branches = L.featureGroup();
    var overlays = {};
    overlays[labels.heatmap] = heatmap;
    overlays[labels.clusters] = clusters;
    overlays[labels.hexagons] = hexagons;
    overlays[labels.branches] = branches;
    [hexagons, clusters, branches, heatmap].forEach(function (layer) { layer.addTo(map); });
    L.control.layers(null, overlays, {
      collapsed: false, position: config.rtl ? "topleft" : "topright",
    }).addTo(map);

    var legend = L.control({ position: config.rtl ? "bottomleft" : "bottomright" });
    legend.onAdd = function () {
      var box = el("div", { class: "planner-legend" }, [el("strong", { text: labels.legendTitle })]);
      ["3", "2", "1", "0", "-1", "-2", "-3"].forEach(function (bin) {
        box.appendChild(el("div", { class: "legend-row" }, [
          el("span", { class: "swatch", style: "background:" + BIN_COLOURS[bin] }),
          labels.bins[bin],
        ]));
      });
      return box;
    };
    legend.addTo(map);

    fetch(config.urls.branches, { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (geojson) {
        L.geoJSON(geojson, {
          pane: "outlines", interactive: false,
          style: { color: "#0b5d57", weight: 2, opacity: 0.8, dashArray: "6 4", fill: false },
        }).addTo(branches);
        mark("branches-drawn", 1);
      });

    function query(extra) {
      var params = new URLSearchParams();
      new FormData(form).forEach(function (value, key) { if (value) params.set(key, value); });
      if (!form.elements.fdr.checked) params.delete("fdr");
      Object.keys(extra || {}).forEach(function (key) { params.set(key, extra[key]); });
      return params;
    }

    function getJSON(url) {
      return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error(url + ": " + response.status);
          return response.json();
        });
    }

    function trendBadge(trend) {
      if (!trend) return null;
      return el("span", {
        class: "trend trend-" + trend, style: "background:" + (TREND_COLOURS[trend] || "#555"),
        text: labels.trends[trend] || trend,
      });
    }

    function row(label, value) {
      return el("tr", {}, [el("th", { text: label }), el("td", {}, [value])]);
    }

    function clusterPopup(p) {
      var select = el("select", { class: "interval", "aria-label": labels.every });
      config.intervals.forEach(function (days) {
        var option = el("option", { value: String(days), text: numbers.format(days) + " " + labels.days });
        select.appendChild(option);
      });
      var suggested = p.score >= 4 ? 7 : p.score >= 2 ? 14 : 30;
      select.value = String(suggested);
      var result = el("p", { class: "preventive-result", role: "status" });
      var button = el("button", { type: "button", class: "button button-primary preventive-button",
        text: labels.preventive });
      button.addEventListener("click", function () {
        button.disabled = true;
        var url = config.urls.preventive.replace("ID", String(p.id));
        fetch(url, {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
          body: JSON.stringify({ interval_days: Number(select.value) }),
        }).then(function (response) {
          return response.json().then(function (data) { return { ok: response.ok, data: data }; });
        }).then(function (answer) {
          if (!answer.ok) throw new Error(JSON.stringify(answer.data));
          var d = answer.data;
          result.textContent = format(labels.created, { number: d.tracking_number }) + ", " +
            (d.crew ? format(labels.crew, { crew: d.crew_name }) : labels.noCrew);
          mark("preventive-created", d.tracking_number);
        }).catch(function () {
          result.textContent = labels.failed;
          button.disabled = false;
        });
      });
      var period = dates.format(new Date(p.first_report_at)) + " – " +
        dates.format(new Date(p.last_report_at));
      return el("div", { class: "planner-popup cluster-popup" }, [
        el("h3", { text: config.categories[p.category] || p.category }),
        el("table", {}, [
          row(labels.reports, numbers.format(p.report_count)),
          row(labels.open, numbers.format(p.open_count)),
          row(labels.period, period),
          row(labels.subcategory, p.dominant_subcategory_name || "–"),
          row(labels.branch, p.branch_name || "–"),
          row(labels.score, numbers.format(p.score)),
          row(labels.trend, trendBadge(p.trend)),
        ]),
        el("div", { class: "preventive" }, [labels.every + " ", select, " ", button]),
        result,
      ]);
    }

    function hexagonPopup(p) {
      return el("div", { class: "planner-popup hexagon-popup" }, [
        el("h3", { text: labels.bins[String(p.bin)] }),
        el("table", {}, [
          row(labels.reports, numbers.format(p.report_count)),
          row(labels.zscore, numbers.format(p.z_score)),
          row(labels.pvalue, numbers.format(p.p_value)),
          row(labels.bin, String(p.bin)),
          p.trend ? row(labels.trend, trendBadge(p.trend)) : null,
          row("H3", p.h3_index),
        ]),
      ]);
    }

    function drawClusters(geojson) {
      clusters.clearLayers();
      L.geoJSON(geojson, {
        pane: "hulls",
        style: function (feature) {
          var colour = TREND_COLOURS[feature.properties.trend] || "#d7191c";
          return { color: colour, weight: 2, fillColor: colour, fillOpacity: 0.25, className: "cluster-hull" };
        },
        onEachFeature: function (feature, layer) {
          layer.bindPopup(function () { return clusterPopup(feature.properties); }, { maxWidth: 320 });
        },
      }).addTo(clusters);
      mark("clusters", geojson.features.length);
    }

    function drawHexagons(geojson) {
      hexagons.clearLayers();
      L.geoJSON(geojson, {
        pane: "hexagons",
        style: function (feature) {
          var bin = String(feature.properties.bin);
          return {
            color: BIN_COLOURS[bin], weight: bin === "0" ? 0.3 : 0.8,
            fillColor: BIN_COLOURS[bin], fillOpacity: bin === "0" ? 0.12 : 0.55,
            className: "hexagon hexagon-bin" + bin,
          };
        },
        onEachFeature: function (feature, layer) {
          layer.bindPopup(function () { return hexagonPopup(feature.properties); });
        },
      }).addTo(hexagons);
      var hot = geojson.features.filter(function (f) { return f.properties.bin > 0; }).length;
      mark("hexagons", geojson.features.length);
      mark("hot-hexagons", hot);
      return hot;
    }

    function drawKpis(data) {
      var tbody = document.querySelector("#kpi-table tbody");
      tbody.textContent = "";
      var category = form.elements.category.value;
      data.rows
        .filter(function (r) { return category ? r.category === category : r.category === null; })
        .forEach(function (r) {
          var name = r.branch ? (config.branchNames[r.branch] || r.branch) :
            (config.language === "ar" ? r.branch_name_ar : r.branch_name_en);
          function cell(value, fmt) {
            return el("td", { text: value === null || value === undefined ? "–" : fmt(value) });
          }
          tbody.appendChild(el("tr", { "data-branch": r.branch || "" }, [
            el("th", { scope: "row", text: name }),
            cell(r.received, numbers.format), cell(r.closed, numbers.format),
            cell(r.closure_rate, percent.format), cell(r.median_resolution_hours, numbers.format),
            cell(r.sla_met_rate, percent.format), cell(r.open_backlog, numbers.format),
            cell(r.overdue, numbers.format),
          ]));
        });
      mark("kpi-rows", tbody.children.length);
    }

    function updateDownloads() {
      document.querySelectorAll("#downloads tr").forEach(function (tr) {
        var dataset = tr.getAttribute("data-dataset");
        var links = tr.querySelector(".links");
        links.textContent = "";
        ["csv", "geojson", "gpkg"].forEach(function (fmt) {
          var params = query({ format: fmt });
          if (dataset === "hexagons") params.set("min_count", "1");
          links.appendChild(el("a", {
            href: config.urls[dataset] + "?" + params.toString(), class: "download download-" + fmt,
            id: "download-" + dataset + "-" + fmt, download: "", text: fmt.toUpperCase(),
          }));
          links.appendChild(document.createTextNode(" "));
        });
      });
    }

    var heatmapRequest = 0;
    function refreshHeatmap() {
      if (!map.hasLayer(heatmap)) return;
      var bounds = map.getBounds();
      var size = map.getSize();
      var params = query({
        bbox: [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()]
          .map(function (v) { return v.toFixed(5); }).join(","),
        width: String(Math.min(1024, size.x)), height: String(Math.min(1024, size.y)),
      });
      params.delete("resolution");
      params.delete("fdr");
      var number = ++heatmapRequest;
      var url = config.urls.heatmap + "?" + params.toString();
      var image = new Image();
      image.onload = function () {
        if (number !== heatmapRequest) return;
        heatmap.setUrl(url);
        heatmap.setBounds(bounds);
        mark("heatmap-loads", counter("heatmap-loads") + 1);
      };
      image.src = url;
    }
    map.on("moveend", refreshHeatmap);
    map.on("overlayadd", function (event) { if (event.layer === heatmap) refreshHeatmap(); });

    var loadNumber = 0;
    function load() {
      var number = ++loadNumber;
      mark("planner-busy", 1);
      status.textContent = labels.loading;
      var params = query();
      var hexParams = query({ min_count: "1" });
      updateDownloads();
      refreshHeatmap();
      Promise.all([
        getJSON(config.urls.clusters + "?" + params.toString()),
        getJSON(config.urls.hexagons + "?" + hexParams.toString()),
        getJSON(config.urls.kpis + "?" + params.toString()),
      ]).then(function (answers) {
        if (number !== loadNumber) return;
        drawHexagons(answers[1]);
        drawClusters(answers[0]);
        drawKpis(answers[2]);
        status.textContent = format(labels.loaded, {
          clusters: numbers.format(answers[0].features.length),
          hot: numbers.format(counter("hot-hexagons")),
        });
        mark("planner-loads", counter("planner-loads") + 1);
        mark("planner-busy", 0);
      }).catch(function () {
        if (number !== loadNumber) return;
        status.textContent = labels.failed;
        mark("planner-busy", 0);
      });
    }

    form.addEventListener("submit", function (event) { event.preventDefault(); load(); });
    ["category", "branch", "resolution", "fdr"].forEach(function (name) {
      form.elements[name].addEventListener("change", load);
    });
    load();
  }

  var GeoOpsPlanner = { start: start, map: null };
  window.GeoOpsPlanner = GeoOpsPlanner;
})();
