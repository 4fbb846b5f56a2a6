/*
 * The crew map (/crew/): the signed-in crew's open jobs, numbered in the suggested order, as
 * markers on a Leaflet map and as a list; a button for each step the job can take next; a
 * navigation link for each job; the route line when a route plan exists, each job's ETA on it,
 * and, when an urgent job has arrived since the plan was made, an offer to re-plan (the jobs
 * already started stay first: fieldteams.routing).
 *
 * Offline: every update goes into a queue kept in localStorage before it is sent, and stays
 * there until the server has answered. A dropped connection or a server error leaves it queued
 * and it is retried (on reconnection, every few seconds, on the next visit); each update carries
 * a client id, so a retry of one that did arrive changes nothing. An update the server refuses
 * (the job was reassigned meanwhile, say) is shown with the server's reason and kept until
 * dismissed: nothing is lost silently. The list shown offline is the last one loaded, with the
 * queued updates applied.
 *
 * Text comes from the page (Django i18n) in a JSON config. Plain ES2017, no build step; no
 * request leaves the app except basemap tiles.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("crew-map-config").textContent);
  var labels = config.labels;
  var prefix = "geoOpsCrew:" + config.user + ":";
  var QUEUE_KEY = prefix + "queue";
  var FAILED_KEY = prefix + "failed";
  var JOBS_KEY = prefix + "jobs";
  var ROUTE_KEY = prefix + "route";
  // Photos above this size (as a data URL) are not kept offline: localStorage holds ~5 MB.
  var MAX_QUEUED_PHOTO = 2500000;
  var body = document.body;
  var locale = config.language === "ar" ? "ar-u-nu-latn" : "en-GB";
  var dateFormat = new Intl.DateTimeFormat(locale, {
    timeZone: config.timeZone,
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  });
  var clockFormat = new Intl.DateTimeFormat(locale, {
    timeZone: config.timeZone,
    hour: "2-digit",
    minute: "2-digit",
  });

  function load(key, fallback) {
    try {
      var value = window.localStorage.getItem(key);
      return value ? JSON.parse(value) : fallback;
    } catch (error) {
      return fallback;
    }
  }

  function save(key, value) {
    try {
      window.localStorage.setItem(key, JSON.stringify(value));
      return true;
    } catch (error) {
      return false;
    }
  }

  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      var value = attributes[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function format(template, n) {
    return template.replace("%(n)s", String(n));
  }

  function uuid() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return "c-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // --- the map ---------------------------------------------------------------------------------
  var depotLatLng = [config.crew.depot[1], config.crew.depot[0]];
  var map = L.map("crew-map", { zoomControl: false }).setView(depotLatLng, 13);
  L.control.zoom({ position: config.rtl ? "topright" : "topleft" }).addTo(map);
  L.tileLayer(config.tileUrl, { attribution: config.tileAttribution, maxZoom: 19 }).addTo(map);
  L.circleMarker(depotLatLng, { radius: 7, color: "#08443f", fillColor: "#f2b705", fillOpacity: 1 })
    .bindTooltip(labels.depot)
    .addTo(map);
  var routeLayer = L.layerGroup().addTo(map);
  var markerLayer = L.layerGroup().addTo(map);
  var markers = {};

  // --- state -----------------------------------------------------------------------------------
  var collection = load(JOBS_KEY, null);
  // Today's route plan: {plan, etas: {assignment id: ISO time}, unplanned_urgent, replan_url}.
  var routeStatus = load(ROUTE_KEY, null);
  var replanning = false;
  var replanError = "";
  var selectedId = null;
  var openForm = null; // {id, to}
  var fitted = false;
  var loads = 0;

  function queue() {
    return load(QUEUE_KEY, []);
  }

  function pendingFor(id) {
    return queue().filter(function (action) { return action.job === id; });
  }

  // Queued updates applied on top of the last list from the server.
  function currentJobs() {
    if (!collection) return [];
    var jobs = collection.features.map(function (feature) {
      return JSON.parse(JSON.stringify(feature));
    });
    queue().forEach(function (action) {
      jobs.forEach(function (job) {
        if (job.id !== action.job) return;
        job.properties.state = action.to;
        job.properties.state_label = labels.states[action.to] || action.to;
        job.properties.transitions = (config.transitions[action.to] || []).slice();
        job.pending = true;
      });
    });
    return jobs;
  }

  // --- rendering -------------------------------------------------------------------------------
  function jobTitle(props) {
    var category = props.subcategory || props.category;
    if (!category) return props.tracking_number;
    return config.language === "ar" ? category.name_ar || category.name_en : category.name_en;
  }

  function select(id, pan) {
    selectedId = id;
    document.querySelectorAll(".job").forEach(function (item) {
      item.classList.toggle("is-selected", Number(item.getAttribute("data-assignment")) === id);
    });
    Object.keys(markers).forEach(function (key) {
      var icon = markers[key].getElement && markers[key].getElement();
      if (icon && icon.firstChild) icon.firstChild.classList.toggle("is-selected", Number(key) === id);
    });
    var item = document.querySelector('.job[data-assignment="' + id + '"]');
    if (item) item.scrollIntoView({ block: "nearest", behavior: "smooth" });
    if (pan && markers[id]) map.panTo(markers[id].getLatLng());
  }

  function drawMap(jobs) {
    markerLayer.clearLayers();
    routeLayer.clearLayers();
    markers = {};
    var bounds = L.latLngBounds([depotLatLng]);
    jobs.forEach(function (job, index) {
      var latLng = [job.geometry.coordinates[1], job.geometry.coordinates[0]];
      var urgent = job.properties.priority >= 4 || job.properties.overdue;
      var marker = L.marker(latLng, {
        icon: L.divIcon({
          className: "job-marker-wrap",
          html: '<span class="job-marker' + (urgent ? " is-urgent" : "") + '">' + (index + 1) + "</span>",
          iconSize: [26, 26],
          iconAnchor: [13, 13],
        }),
        title: job.properties.tracking_number,
        keyboard: true,
      });
      marker.on("click", function () { select(job.id, false); });
      marker.addTo(markerLayer);
      markers[job.id] = marker;
      bounds.extend(latLng);
    });
    if (collection && collection.route) {
      // The route plan's line (fieldteams.routing), when the server has one.
      L.geoJSON(collection.route, { style: { color: "#0b5d57", weight: 4, opacity: 0.7 } }).addTo(routeLayer);
    }
    if (!fitted && jobs.length) {
      map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16 });
      fitted = true;
    }
  }

  function actionButtons(job) {
    var props = job.properties;
    return props.transitions.map(function (to) {
      var primary = to === "completed" || to === "accepted" || to === "en_route" || to === "in_progress";
      var button = el("button", {
        type: "button",
        className: primary ? "primary" : "",
        "data-to": to,
        text: labels.actions[to] || to,
      });
      button.addEventListener("click", function () {
        if (to === "completed" || to === "declined" || to === "paused") {
          openForm = { id: job.id, to: to };
          render();
        } else {
          enqueue({ job: job.id, to: to });
        }
      });
      return button;
    });
  }

  function transitionForm(job, to) {
    var needsNote = to === "completed";
    var needsReason = to === "declined";
    var text = el("textarea", {
      name: needsNote ? "note" : "reason",
      "aria-label": needsNote ? labels.note : labels.reason,
      placeholder: needsNote ? labels.note : labels.reason,
      required: needsNote || needsReason,
    });
    var photo = needsNote ? el("input", { type: "file", name: "photo", accept: "image/*", "aria-label": labels.photo }) : null;
    var position = needsNote ? el("input", { type: "checkbox", name: "position", checked: true }) : null;
    var error = el("p", { className: "form-error", role: "alert" });
    var send = el("button", { type: "submit", className: "primary", text: labels.actions[to] || labels.send });
    var cancel = el("button", { type: "button", text: labels.cancel });
    var form = el("form", { className: "job-form", "data-to": to, novalidate: true }, [
      text,
      photo ? el("label", {}, [labels.photo + " ", photo]) : null,
      position ? el("label", {}, [position, " " + labels.usePosition]) : null,
      error,
      el("div", { className: "row" }, [send, cancel]),
    ]);
    cancel.addEventListener("click", function () {
      openForm = null;
      render();
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var value = text.value.trim();
      if ((needsNote || needsReason) && !value) {
        error.textContent = needsNote ? labels.noteRequired : labels.reasonRequired;
        text.focus();
        return;
      }
      send.disabled = true;
      var action = { job: job.id, to: to };
      if (needsNote) action.note = value;
      else action.reason = value;
      Promise.all([
        photo && photo.files[0] ? readPhoto(photo.files[0]) : Promise.resolve(null),
        position && position.checked ? currentPosition() : Promise.resolve(null),
      ]).then(function (results) {
        if (results[0]) action.photo = results[0];
        if (results[1]) {
          action.lat = results[1].lat;
          action.lon = results[1].lon;
        }
        openForm = null;
        enqueue(action);
      });
    });
    return form;
  }

  function jobItem(job, index) {
    var props = job.properties;
    var urgent = props.priority >= 4 || props.overdue;
    var due = props.due_at ? dateFormat.format(new Date(props.due_at)) : "";
    var eta = routeStatus && routeStatus.etas ? routeStatus.etas[String(job.id)] : null;
    var meta = el("p", { className: "job-meta" }, [
      eta ? el("span", { className: "job-eta", text: labels.eta + " " + clockFormat.format(new Date(eta)) }) : null,
      eta ? " · " : null,
      labels.priority + ": " + (labels.priorities[String(props.priority)] || props.priority),
      due ? " · " : null,
      due ? el("span", { className: props.overdue ? "overdue" : "" }, [
        (props.overdue ? labels.overdue : labels.due) + " " + due,
      ]) : null,
      props.reports_count > 1 ? " · " + format(labels.reports, props.reports_count) : null,
    ]);
    var links = el("p", { className: "job-links" }, [
      el("a", { href: props.navigation.geo, className: "nav-geo", text: labels.navigate }),
      el("a", { href: props.navigation.web, className: "nav-web", target: "_blank", rel: "noopener", text: labels.openMap }),
      props.callback_phone ? el("a", { href: "tel:" + props.callback_phone, dir: "ltr", text: labels.callReporter + " " + props.callback_phone }) : null,
    ]);
    var state = el("span", { className: "job-state", text: job.pending ? props.state_label + " · " + labels.pending : props.state_label });
    var item = el("li", {
      className: "job" + (job.pending ? " is-pending" : "") + (job.id === selectedId ? " is-selected" : ""),
      "data-assignment": job.id,
      "data-tracking": props.tracking_number,
      "data-state": props.state,
    }, [
      el("div", { className: "job-head" }, [
        el("span", { className: "job-number" + (urgent ? " is-urgent" : ""), text: String(index + 1) }),
        el("span", { className: "job-title" }, [jobTitle(props), el("bdi", { className: "job-tracking", text: " " + props.tracking_number })]),
        state,
      ]),
      meta,
      props.description ? el("p", { className: "job-description", text: props.description }) : null,
      props.address ? el("p", { className: "job-description", text: props.address }) : null,
      links,
      openForm && openForm.id === job.id
        ? transitionForm(job, openForm.to)
        : el("div", { className: "job-actions" }, actionButtons(job)),
    ]);
    item.addEventListener("click", function (event) {
      if (event.target.closest("button, a, form")) return;
      select(job.id, true);
    });
    return item;
  }

  function renderStatus() {
    var waiting = queue().length;
    var online = navigator.onLine !== false && body.getAttribute("data-reachable") !== "0";
    var status = document.getElementById("crew-status");
    status.classList.toggle("is-offline", !online);
    document.getElementById("connection").textContent = online ? labels.online : labels.offline;
    var count = document.getElementById("queue-count");
    count.hidden = waiting === 0;
    count.textContent = format(labels.queued, waiting);
    body.setAttribute("data-queue", String(waiting));

    var failed = load(FAILED_KEY, []);
    var box = document.getElementById("failed-updates");
    box.innerHTML = "";
    box.hidden = failed.length === 0;
    failed.forEach(function (entry) {
      var dismiss = el("button", { type: "button", text: labels.dismiss });
      dismiss.addEventListener("click", function () {
        save(FAILED_KEY, load(FAILED_KEY, []).filter(function (other) { return other.id !== entry.id; }));
        renderStatus();
      });
      box.appendChild(el("p", { className: "failed-update" }, [
        labels.failed + ": " + entry.tracking + " → " + (labels.actions[entry.to] || entry.to) + " (" + entry.message + ") ",
        dismiss,
      ]));
    });
  }

  function renderReplan() {
    var box = document.getElementById("replan-offer");
    var urgent = routeStatus && routeStatus.unplanned_urgent ? routeStatus.unplanned_urgent : [];
    var offered = urgent.length > 0 && Boolean(routeStatus.replan_url);
    box.innerHTML = "";
    box.hidden = !offered && !replanError;
    body.setAttribute("data-replan-offered", offered ? "1" : "0");
    if (!offered && !replanError) return;
    if (offered) {
      var button = el("button", { type: "button", id: "replan-button", className: "primary",
        text: replanning ? labels.replanning : labels.replan });
      button.disabled = replanning;
      button.addEventListener("click", replan);
      box.appendChild(el("span", { text: labels.urgentNew }));
      box.appendChild(button);
    }
    if (replanError) box.appendChild(el("span", { className: "form-error", text: replanError }));
  }

  function replan() {
    if (replanning || !routeStatus || !routeStatus.replan_url) return;
    replanning = true;
    replanError = "";
    renderReplan();
    currentPosition().then(function (position) {
      var fields = position ? { lat: position.lat, lon: position.lon } : {};
      return fetch(routeStatus.replan_url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify(fields),
      });
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      body.setAttribute("data-replans", String(Number(body.getAttribute("data-replans") || 0) + 1));
    }).catch(function () {
      replanError = labels.replanFailed;
    }).then(function () {
      replanning = false;
      return refresh();
    });
  }

  function render() {
    var jobs = currentJobs();
    var list = document.getElementById("job-list");
    list.innerHTML = "";
    jobs.forEach(function (job, index) { list.appendChild(jobItem(job, index)); });
    var empty = document.getElementById("no-jobs");
    empty.hidden = jobs.length > 0 || !collection;
    empty.textContent = labels.noJobs;
    drawMap(jobs);
    renderStatus();
    renderReplan();
    body.setAttribute("data-jobs", String(jobs.length));
  }

  // --- talking to the server -------------------------------------------------------------------
  function refresh() {
    return fetch(config.jobsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        collection = data;
        save(JOBS_KEY, data);
        body.setAttribute("data-reachable", "1");
        return fetch(config.routeUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (response) { return response.ok ? response.json() : null; })
          .then(function (route) {
            routeStatus = route;
            save(ROUTE_KEY, route);
            body.setAttribute("data-route-plan", route && route.plan ? String(route.plan) : "");
          })
          .catch(function () { /* the jobs are what matters; the plan is extra */ });
      })
      .catch(function () {
        body.setAttribute("data-reachable", "0");
        if (collection) {
          var box = document.getElementById("connection");
          box.textContent = labels.loadFailed;
        }
      })
      .then(function () {
        loads += 1;
        render();
        body.setAttribute("data-jobs-loaded", String(loads));
      });
  }

  function enqueue(action) {
    var job = currentJobs().filter(function (j) { return j.id === action.job; })[0];
    action.id = uuid();
    action.tracking = job ? job.properties.tracking_number : String(action.job);
    action.queuedAt = new Date().toISOString();
    var entries = queue();
    entries.push(action);
    if (!save(QUEUE_KEY, entries)) {
      // Out of space (a photo): keep the update without it, and say so.
      delete action.photo;
      if (!save(QUEUE_KEY, entries)) {
        failedAdd(action, labels.photoTooBig);
        return;
      }
      failedAdd({ id: action.id + "-photo", tracking: action.tracking, to: action.to }, labels.photoTooBig);
    }
    render();
    flush();
  }

  function failedAdd(action, message) {
    var failed = load(FAILED_KEY, []);
    failed.push({ id: action.id, tracking: action.tracking, to: action.to, message: message });
    save(FAILED_KEY, failed);
  }

  function dataUrlToBlob(dataUrl) {
    var parts = dataUrl.split(",");
    var mime = parts[0].match(/:(.*?);/)[1];
    var binary = atob(parts[1]);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return new Blob([bytes], { type: mime });
  }

  function readPhoto(file) {
    return new Promise(function (resolve) {
      var reader = new FileReader();
      reader.onload = function () {
        if (String(reader.result).length > MAX_QUEUED_PHOTO) {
          failedAdd({ id: uuid(), tracking: "", to: "completed" }, labels.photoTooBig);
          resolve(null);
        } else {
          resolve({ name: file.name, data: reader.result });
        }
      };
      reader.onerror = function () { resolve(null); };
      reader.readAsDataURL(file);
    });
  }

  function currentPosition() {
    return new Promise(function (resolve) {
      if (!navigator.geolocation) return resolve(null);
      navigator.geolocation.getCurrentPosition(
        function (position) { resolve({ lat: position.coords.latitude, lon: position.coords.longitude }); },
        function () { resolve(null); },
        { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 }
      );
    });
  }

  function send(action) {
    var url = config.transitionUrl.replace("{id}", String(action.job));
    var headers = { "X-CSRFToken": csrfToken(), Accept: "application/json" };
    var fields = { to: action.to, note: action.note || "", reason: action.reason || "", client_id: action.id };
    if (action.lat !== undefined) {
      fields.lat = action.lat;
      fields.lon = action.lon;
    }
    var requestBody;
    if (action.photo) {
      requestBody = new FormData();
      Object.keys(fields).forEach(function (name) { requestBody.append(name, fields[name]); });
      requestBody.append("photo", dataUrlToBlob(action.photo.data), action.photo.name || "photo.jpg");
    } else {
      headers["Content-Type"] = "application/json";
      requestBody = JSON.stringify(fields);
    }
    return fetch(url, { method: "POST", credentials: "same-origin", headers: headers, body: requestBody })
      .then(function (response) {
        if (response.ok) return { outcome: "done" };
        if (response.status >= 500 || response.status === 401 || response.status === 403) {
          // Server trouble or a lapsed sign-in: keep it and try again later.
          return { outcome: "retry" };
        }
        return response.json().catch(function () { return {}; }).then(function (data) {
          var messages = [];
          Object.keys(data).forEach(function (key) {
            if (key !== "code") messages.push([].concat(data[key]).join(" "));
          });
          return { outcome: "refused", message: messages.join(" ") || "HTTP " + response.status };
        });
      })
      .catch(function () { return { outcome: "retry" }; });
  }

  var flushing = false;
  function flush() {
    if (flushing) return Promise.resolve();
    var entries = queue();
    if (!entries.length) {
      renderStatus();
      return Promise.resolve();
    }
    flushing = true;
    var action = entries[0];
    return send(action).then(function (result) {
      flushing = false;
      if (result.outcome === "retry") {
        body.setAttribute("data-reachable", "0");
        renderStatus();
        return null;
      }
      body.setAttribute("data-reachable", "1");
      save(QUEUE_KEY, queue().filter(function (other) { return other.id !== action.id; }));
      if (result.outcome === "refused") failedAdd(action, result.message);
      if (queue().length) return flush();
      return refresh();
    });
  }

  window.addEventListener("online", function () { flush().then(function () { return refresh(); }); });
  window.addEventListener("offline", renderStatus);
  window.setInterval(function () { if (queue().length) flush(); }, config.retrySeconds * 1000);

  render();
  flush().then(function () { return refresh(); });

  window.GeoOpsCrewMap = { map: map, flush: flush, refresh: refresh, queue: queue };
})();
