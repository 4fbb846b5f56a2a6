/* geo_ops public open-issues map.
 *
 * folium builds the Leaflet map (basemap from the settings); this script adds what moves with
 * the view: the branch outlines, the open reports read from /maps/open-reports.json (points,
 * clustered here with Leaflet.markercluster, or counts per grid cell when a view holds too many
 * to send), the legend, the category filter, and the "Report a problem" location picker.
 * Text comes from the page (Django i18n) in a JSON config; no request leaves the app except
 * basemap tiles. Plain ES2017, no build step.
 */
(function () {
  "use strict";

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "style") node.style.cssText = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  function start(map, configId) {
    var config = JSON.parse(document.getElementById(configId).textContent);
    var labels = config.labels;
    var rtl = config.rtl;
    var locale = config.language === "ar" ? "ar-u-nu-latn" : "en-GB";
    var numberFormat = new Intl.NumberFormat(locale);
    // "122K" in both languages: the Arabic compact form ("122 ألف") does not fit in a circle.
    var compactFormat = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 0 });
    function shortNumber(n) { return n >= 10000 ? compactFormat.format(n) : numberFormat.format(n); }
    var dateFormat = new Intl.DateTimeFormat(locale, { year: "numeric", month: "long", day: "numeric" });
    var categories = {};
    var subcategories = {};
    config.categories.forEach(function (category) {
      categories[category.code] = category;
      category.subcategories.forEach(function (sub) { subcategories[sub.code] = sub; });
    });

    // Branch outlines, under the markers; not clickable so clicks reach the map.
    map.createPane("outlines").style.zIndex = 350;
    fetch(config.branchesUrl, { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (geojson) {
        L.geoJSON(geojson, {
          pane: "outlines",
          interactive: false,
          style: { color: "#0b5d57", weight: 2, opacity: 0.8, dashArray: "6 4", fillOpacity: 0.03 },
        }).addTo(map);
      })
      .catch(function () { /* the map works without outlines */ });

    // Legend (also shows what the category filter filters).
    var legend = L.control({ position: rtl ? "topleft" : "topright" });
    legend.onAdd = function () {
      var items = config.categories.map(function (category) {
        return el("li", {}, [
          el("span", { class: "swatch", style: "background:" + category.color }),
          el("span", { text: category.name }),
        ]);
      });
      items.push(el("li", {}, [el("span", { class: "swatch-line" }), el("span", { text: labels.branchBoundary })]));
      var details = el("details", { id: "map-legend-details" }, [
        el("summary", { text: labels.legend }),
        el("ul", {}, items),
        el("p", { class: "help", text: labels.clusterHelp }),
      ]);
      if (window.innerWidth > 720) details.setAttribute("open", "");
      var box = el("div", { class: "map-legend", id: "map-legend" }, [details]);
      L.DomEvent.disableClickPropagation(box);
      return box;
    };
    legend.addTo(map);

    // Icons.
    function dotIcon(color) {
      return L.divIcon({
        className: "report-marker",
        html: '<div class="report-dot" style="background:' + color + '"></div>',
        iconSize: [16, 16],
        iconAnchor: [8, 8],
        popupAnchor: [0, -8],
      });
    }
    var dotIcons = {};
    config.categories.forEach(function (category) { dotIcons[category.code] = dotIcon(category.color); });

    function countIcon(countsByCode, total) {
      // A ring split by category share around the count: the cluster's colours.
      var stops = [];
      var done = 0;
      config.categories.forEach(function (category) {
        var n = countsByCode[category.code] || 0;
        if (!n) return;
        var from = (done / total) * 360;
        done += n;
        stops.push(category.color + " " + from.toFixed(1) + "deg " + ((done / total) * 360).toFixed(1) + "deg");
      });
      var size = Math.round(28 + 5 * Math.log10(Math.max(total, 1)));
      return L.divIcon({
        className: "report-cluster-icon",
        html: '<div class="report-cluster" style="width:' + size + "px;height:" + size +
          "px;background:conic-gradient(" + (stops.join(",") || "#999 0deg 360deg") + ')"><span>' +
          shortNumber(total) + "</span></div>",
        iconSize: [size, size],
      });
    }

    function popupContent(point) {
      var category = categories[point.c] || { name: point.c, color: "#999" };
      var rows = [];
      function row(label, value) {
        rows.push(el("dt", { text: label }));
        rows.push(el("dd", {}, [value]));
      }
      if (point.s && subcategories[point.s]) row(labels.subcategory, subcategories[point.s].name);
      row(labels.status, config.statuses[point.st] || point.st);
      row(labels.date, dateFormat.format(new Date(point.d + "T12:00:00")));
      var link = el("a", { href: config.trackUrl.replace("TRACKING", point.t), dir: "ltr", text: point.t });
      row(labels.trackingNumber, link);
      return el("div", { class: "report-popup", "data-tracking": point.t }, [
        el("p", { class: "title" }, [
          el("span", { class: "report-dot", style: "width:12px;height:12px;background:" + category.color }),
          el("span", { text: category.name }),
        ]),
        el("dl", {}, rows),
      ]);
    }

    // One cluster layer for both kinds of data: report points (one report each) and the
    // server's grid cells (a count each, with the count per category). Clusters add them up, so
    // nearby cells never draw overlapping circles.
    var clusters = L.markerClusterGroup({
      showCoverageOnHover: false,
      maxClusterRadius: 50,
      chunkedLoading: true,
      iconCreateFunction: function (cluster) {
        var counts = {};
        var total = 0;
        cluster.getAllChildMarkers().forEach(function (marker) {
          var by = marker.options.by;
          if (by) {
            Object.keys(by).forEach(function (code) { counts[code] = (counts[code] || 0) + by[code]; });
            total += marker.options.count;
          } else {
            counts[marker.options.category] = (counts[marker.options.category] || 0) + 1;
            total += 1;
          }
        });
        return countIcon(counts, total);
      },
    });
    clusters.addTo(map);
    var markersByTracking = {};

    var statusBox = document.getElementById("map-status");
    var filter = document.getElementById("category-filter");
    var pending = null;
    var loaded = null; // {bounds, category} of the last complete point set

    function setStatus(text) { statusBox.textContent = text; }

    // The data covers a margin around the view; the count is of the view itself.
    var shown = null;
    function countInView() {
      if (!shown) return;
      var view = map.getBounds();
      var n = 0;
      shown.forEach(function (item) {
        if (view.contains([item.lat, item.lon])) n += item.n || 1;
      });
      setStatus(labels.openReports.replace("%(n)s", numberFormat.format(n)));
    }

    function showPoints(points) {
      clusters.clearLayers();
      markersByTracking = {};
      var markers = points.map(function (point) {
        var category = categories[point.c];
        var marker = L.marker([point.lat, point.lon], {
          icon: dotIcons[point.c] || dotIcon("#999"),
          category: point.c,
          title: (category ? category.name : point.c) + " · " + point.t,
        });
        marker.bindPopup(function () { return popupContent(point); });
        markersByTracking[point.t] = marker;
        return marker;
      });
      clusters.addLayers(markers);
    }

    function showCells(list) {
      clusters.clearLayers();
      markersByTracking = {};
      clusters.addLayers(list.map(function (cell) {
        var marker = L.marker([cell.lat, cell.lon], {
          icon: countIcon(cell.by, cell.n),
          count: cell.n,
          by: cell.by,
          title: labels.openReports.replace("%(n)s", numberFormat.format(cell.n)),
        });
        marker.on("click", function () {
          map.setView([cell.lat, cell.lon], Math.min(map.getZoom() + 2, map.getMaxZoom()));
        });
        return marker;
      }));
    }

    function focusReport() {
      if (!config.focus) return;
      var marker = markersByTracking[config.focus.tracking];
      if (!marker) return;
      config.focus = null;
      clusters.zoomToShowLayer(marker, function () { marker.openPopup(); });
    }

    // State for people reading the page's markup and for the browser tests: how many times
    // the view asked for data, whether a request is under way, how many answers were drawn.
    function mark(name, value) { document.body.setAttribute("data-map-" + name, String(value)); }
    function counter(name) { return Number(document.body.getAttribute("data-map-" + name) || 0); }

    function load() {
      var category = filter.value;
      var view = map.getBounds();
      mark("views", counter("views") + 1);
      if (loaded && loaded.category === category && loaded.bounds.contains(view)) {
        countInView();
        mark("busy", 0);
        return; // every point of this view is on the map already; clusters follow the zoom
      }
      mark("busy", 1);
      var bounds = view.pad(0.25);
      var bbox = [
        Math.max(bounds.getWest(), -180), Math.max(bounds.getSouth(), -90),
        Math.min(bounds.getEast(), 180), Math.min(bounds.getNorth(), 90),
      ].map(function (v) { return v.toFixed(5); }).join(",");
      var url = config.dataUrl + "?bbox=" + bbox + "&zoom=" + map.getZoom() +
        (category ? "&category=" + encodeURIComponent(category) : "");
      if (pending) pending.abort();
      var controller = new AbortController();
      pending = controller;
      setStatus(labels.loading);
      fetch(url, { signal: controller.signal, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          pending = null;
          if (data.mode === "points") {
            showPoints(data.points);
            loaded = { bounds: bounds, category: category };
          } else {
            showCells(data.cells);
            loaded = null;
          }
          shown = data.mode === "points" ? data.points : data.cells;
          countInView();
          mark("mode", data.mode);
          mark("total", data.total);
          mark("loads", counter("loads") + 1);
          mark("busy", 0);
          focusReport();
        })
        .catch(function (error) {
          if (error.name === "AbortError") return;
          pending = null;
          setStatus(labels.loadFailed);
          mark("busy", 0);
        });
    }

    filter.addEventListener("change", function () {
      loaded = null;
      load();
    });
    map.on("moveend", debounce(load, 150));

    // "Report a problem": open the panel, click the map to place the pin.
    var panel = document.getElementById("report-panel");
    var form = document.getElementById("report-form");
    var latInput = form.querySelector('input[name="lat"]');
    var lonInput = form.querySelector('input[name="lon"]');
    var hint = document.getElementById("location-hint");
    var categorySelect = form.querySelector('select[name="category"]');
    var subcategorySelect = form.querySelector('select[name="subcategory"]');
    var subPlaceholder = subcategorySelect.options[0].textContent;
    var chosen = null;
    var pin = L.divIcon({
      className: "chosen-marker",
      html: '<div class="chosen-pin"></div>',
      iconSize: [26, 26],
      iconAnchor: [13, 31],
    });

    function panelOpen() { return !panel.hidden; }

    function openPanel() {
      panel.hidden = false;
      document.body.classList.add("report-open");
      if (!chosen) hint.textContent = labels.clickMap;
    }

    function closePanel() {
      panel.hidden = true;
      document.body.classList.remove("report-open");
      if (chosen) {
        map.removeLayer(chosen);
        chosen = null;
      }
    }

    function choose(latlng, restoring) {
      latInput.value = latlng.lat.toFixed(6);
      lonInput.value = latlng.lng.toFixed(6);
      if (!chosen) {
        chosen = L.marker(latlng, { icon: pin, draggable: true, zIndexOffset: 1000, title: labels.yourReport });
        chosen.on("dragend", function () { choose(chosen.getLatLng()); });
        chosen.addTo(map);
      } else {
        chosen.setLatLng(latlng);
      }
      if (restoring) return; // a page with the server's verdict on this location: keep it
      hint.textContent = labels.locationChosen;
      var fieldset = document.getElementById("field-location");
      fieldset.classList.remove("has-error");
      fieldset.querySelectorAll(".error").forEach(function (node) { node.remove(); });
    }

    function fillSubcategories() {
      var current = subcategorySelect.value;
      var category = categories[categorySelect.value];
      subcategorySelect.textContent = "";
      subcategorySelect.appendChild(el("option", { value: "", text: subPlaceholder }));
      (category ? category.subcategories : []).forEach(function (sub) {
        var option = el("option", { value: sub.code, text: sub.name });
        if (sub.code === current) option.selected = true;
        subcategorySelect.appendChild(option);
      });
      subcategorySelect.disabled = !category;
    }

    categorySelect.addEventListener("change", fillSubcategories);
    fillSubcategories();

    document.getElementById("report-button").addEventListener("click", function (event) {
      event.preventDefault();
      openPanel();
    });
    document.getElementById("report-close").addEventListener("click", function (event) {
      event.preventDefault();
      closePanel();
    });
    map.on("click", function (event) {
      if (panelOpen()) choose(event.latlng);
    });
    form.addEventListener("submit", function (event) {
      if (!latInput.value || !lonInput.value) {
        event.preventDefault();
        var fieldset = document.getElementById("field-location");
        fieldset.classList.add("has-error");
        hint.textContent = "";
        if (!fieldset.querySelector(".error")) {
          fieldset.appendChild(el("p", { class: "error", role: "alert", text: labels.clickMap }));
        }
        fieldset.scrollIntoView({ block: "nearest" });
      }
    });

    if (config.chosenLocation) {
      choose(L.latLng(config.chosenLocation.lat, config.chosenLocation.lon), true);
      map.setView(chosen.getLatLng(), Math.max(map.getZoom(), 15));
    } else if (config.focus) {
      map.setView([config.focus.lat, config.focus.lon], 17);
    }
    if (config.reportPanelOpen) openPanel();
    load();
    GeoOpsPublicMap.map = map;
  }

  var GeoOpsPublicMap = { start: start, map: null };
  window.GeoOpsPublicMap = GeoOpsPublicMap;
})();
