// The operations page: draws the server-rendered snapshot, then follows `ops.snapshot` messages on /ws/.
// The socket authenticates with a short-lived token fetched from /ops/token with the staff session cookie.
// The charts fetch /ops/series for the chosen time range, on load, on a range change and every SERIES_REFRESH_MS.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("ops-config").textContent);
  var initial = JSON.parse(document.getElementById("ops-initial").textContent);
  var SERIES_REFRESH_MS = 30000;
  var SVG = "http://www.w3.org/2000/svg";

  // Every number on the page goes through these: the page is English (12,345), times in the operators' zone.
  var numbers = new Intl.NumberFormat("en-US", {maximumFractionDigits: 0});
  var clock = new Intl.DateTimeFormat("en-GB", {timeZone: config.timeZone, hour: "2-digit", minute: "2-digit"});
  var clockSeconds = new Intl.DateTimeFormat("en-GB", {timeZone: config.timeZone, hour: "2-digit",
                                                       minute: "2-digit", second: "2-digit"});
  var format = {
    number: function (value) { return numbers.format(value); },
    percent: function (ratio) { return numbers.format(Math.round(ratio * 100)) + "%"; },
    metres: function (value) { return numbers.format(value) + " m"; },
    time: function (iso) { return clock.format(new Date(iso)); },
    timeSeconds: function (iso) { return clockSeconds.format(new Date(iso)); }
  };
  window.opsFormat = format;
  var STYLES = {
    driver: {radius: 6, color: "#1e8449", fillColor: "#27ae60", fillOpacity: 0.9, weight: 1},
    busy: {radius: 6, color: "#b9770e", fillColor: "#f39c12", fillOpacity: 0.9, weight: 1},
    request: {radius: 7, color: "#1f618d", fillColor: "#2980b9", fillOpacity: 0.6, weight: 2},
    ride: {radius: 8, color: "#6c3483", fillColor: "#8e44ad", fillOpacity: 0.9, weight: 2}
  };

  var map = L.map("map", {preferCanvas: false, zoomControl: true}).setView(config.center, 12);
  if (config.tileUrl) {
    var tiles = L.tileLayer(config.tileUrl, {maxZoom: 19, attribution: config.tileAttribution});
    tiles.on("tileerror", function () { document.getElementById("tiles-note").hidden = false; });
    tiles.addTo(map);
  } else {
    document.getElementById("tiles-note").hidden = false;
  }

  // One layer per kind, each a map id -> circle marker, so an update moves markers instead of redrawing them.
  function Layer(kind) {
    this.kind = kind;
    this.group = L.layerGroup().addTo(map);
    this.markers = new Map();
  }
  Layer.prototype.sync = function (rows, styleOf, label) {
    var seen = new Set();
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i], id = row[0], style = styleOf(row), marker = this.markers.get(id);
      seen.add(id);
      if (marker) {
        marker.setLatLng([row[1], row[2]]);
        if (marker.options.fillColor !== style.fillColor) { marker.setStyle(style); }
      } else {
        marker = L.circleMarker([row[1], row[2]], Object.assign({className: "ops-" + this.kind}, style));
        marker.bindTooltip(label(row));
        marker.addTo(this.group);
        var element = marker.getElement && marker.getElement();
        if (element) { element.setAttribute("data-id", id); }
        this.markers.set(id, marker);
      }
    }
    var self = this;
    this.markers.forEach(function (marker, id) {
      if (!seen.has(id)) { self.group.removeLayer(marker); self.markers.delete(id); }
    });
  };

  var layers = {drivers: new Layer("driver"), requests: new Layer("request"), rides: new Layer("ride")};
  window.opsLayers = layers;  // for the browser test and curious operators

  function render(snapshot) {
    layers.drivers.sync(snapshot.drivers, function (row) { return row[3] ? STYLES.busy : STYLES.driver; },
      function (row) { return "driver " + row[0] + (row[3] ? " (busy)" : " (available)"); });
    layers.requests.sync(snapshot.requests, function () { return STYLES.request; },
      function (row) { return "request " + row[0] + " (" + row[3] + ")"; });
    layers.rides.sync(snapshot.rides, function () { return STYLES.ride; },
      function (row) { return "ride " + row[0] + " (" + row[3] + ")"; });
    Object.keys(snapshot.counters).forEach(function (name) {
      var el = document.getElementById("c-" + name);
      if (el) { el.textContent = format.number(snapshot.counters[name]); }
    });
    document.getElementById("ops-updated").textContent = "updated " + format.timeSeconds(snapshot.at);
    window.opsLastSnapshotAt = snapshot.at;
  }

  function fitToPoints(snapshot) {
    var points = [].concat(snapshot.drivers, snapshot.requests, snapshot.rides).map(function (row) {
      return [row[1], row[2]];
    });
    if (points.length > 1) { map.fitBounds(points, {padding: [40, 40], maxZoom: 15}); }
  }

  function setStatus(state, text) {
    var el = document.getElementById("ops-status");
    el.className = "status status-" + state;
    el.setAttribute("data-state", state);
    el.textContent = text;
  }

  function getJson(url) {
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}}).then(function (r) {
      if (r.status === 302 || r.redirected || !r.ok) { throw new Error("session ended (" + r.status + ")"); }
      return r.json();
    });
  }

  var backoff = 1000;
  function connect() {
    setStatus("connecting", "connecting…");
    getJson(config.tokenUrl).then(function (body) {
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + location.host + body.ws_path + "?token=" + encodeURIComponent(body.token));
      socket.onopen = function () {
        backoff = 1000;
        setStatus("live", "live");
        getJson(config.snapshotUrl).then(render).catch(function () {});  // what changed while we were away
      };
      socket.onmessage = function (message) {
        var data = JSON.parse(message.data);
        if (data.type === "ops.snapshot") { render(data); }
      };
      socket.onclose = function (event) {
        setStatus("offline", event.code === 4401 ? "signed out — reconnecting" : "offline — reconnecting");
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 15000);
      };
    }).catch(function (error) {
      setStatus("offline", String(error.message || error));
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 15000);
    });
  }

  // --- Charts: small SVG bar and line charts over the chosen range, one value per bucket ---------------------
  var CHART_W = 320, CHART_H = 120, PAD = {left: 34, right: 6, top: 10, bottom: 18};
  var CHARTS = [
    {key: "requests", kind: "bars", format: format.number, noun: "requests", summary: total},
    {key: "completed", kind: "bars", format: format.number, noun: "completed", summary: total},
    {key: "match_rate", kind: "line", format: format.percent, noun: "matched", fixedMax: 1, summary: overallRate},
    {key: "mean_pickup_m", kind: "line", format: format.metres, noun: "to pickup", minMax: 100, summary: latest}
  ];

  function total(values) {
    return format.number(values.reduce(function (sum, v) { return sum + v; }, 0)) + " in range";
  }
  function overallRate(values, series) {
    var made = 0, matched = 0;
    values.forEach(function (rate, i) { if (rate !== null) { made += series.requests[i]; matched += rate * series.requests[i]; } });
    return made ? format.percent(matched / made) + " overall" : "no requests";
  }
  function latest(values, _series, chart) {
    for (var i = values.length - 1; i >= 0; i--) { if (values[i] !== null) { return chart.format(values[i]) + " latest"; } }
    return "no confirmed rides";
  }

  function svgElement(name, attributes, text) {
    var el = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (key) { el.setAttribute(key, attributes[key]); });
    if (text !== undefined) { el.textContent = text; }
    return el;
  }

  // A round axis top: 1, 2 or 5 times a power of ten, at least the largest value.
  function niceMax(value) {
    if (!(value > 0)) { return 1; }
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) { if (steps[i] * power >= value) { return steps[i] * power; } }
    return 10 * power;
  }

  function drawChart(chart, series) {
    var values = series[chart.key], n = values.length;
    var max = chart.fixedMax || niceMax(Math.max.apply(null, values.map(function (v) { return v || 0; }).concat(
      [chart.minMax || 0])));
    var plotW = CHART_W - PAD.left - PAD.right, plotH = CHART_H - PAD.top - PAD.bottom, slot = plotW / n;
    var y = function (v) { return PAD.top + plotH - (v / max) * plotH; };
    var svg = svgElement("svg", {viewBox: "0 0 " + CHART_W + " " + CHART_H, role: "img",
                                 "aria-label": chart.noun + " per " + series.step_seconds / 60 + " min",
                                 "data-points": values.filter(function (v) { return v !== null; }).length});
    svg.appendChild(svgElement("line", {class: "grid", x1: PAD.left, x2: CHART_W - PAD.right, y1: y(max), y2: y(max)}));
    svg.appendChild(svgElement("line", {class: "axis", x1: PAD.left, x2: CHART_W - PAD.right, y1: y(0), y2: y(0)}));
    svg.appendChild(svgElement("text", {class: "tick", x: PAD.left - 4, y: y(max) + 4, "text-anchor": "end"},
                               chart.format(max)));
    svg.appendChild(svgElement("text", {class: "tick", x: PAD.left - 4, y: y(0), "text-anchor": "end"}, "0"));
    svg.appendChild(svgElement("text", {class: "tick", x: PAD.left, y: CHART_H - 4}, format.time(series.buckets[0])));
    svg.appendChild(svgElement("text", {class: "tick", x: CHART_W - PAD.right, y: CHART_H - 4, "text-anchor": "end"},
                               format.time(series.buckets[n - 1])));
    var line = "";
    values.forEach(function (value, i) {
      var label = format.time(series.buckets[i]) + " · " + (value === null ? "none" : chart.format(value)) +
                  " " + chart.noun;
      if (chart.kind === "bars") {
        var bar = svgElement("rect", {class: "bar", x: PAD.left + i * slot + 1, y: y(value), "data-value": value,
                                      width: Math.max(1, slot - 2), height: y(0) - y(value)});
        bar.appendChild(svgElement("title", {}, label));
        svg.appendChild(bar);
      } else if (value !== null) {
        var cx = PAD.left + (i + 0.5) * slot;
        line += (line && values[i - 1] !== null ? " L" : " M") + cx.toFixed(1) + " " + y(value).toFixed(1);
        var dot = svgElement("circle", {class: "point", cx: cx, cy: y(value), r: 2.5, "data-value": value});
        dot.appendChild(svgElement("title", {}, label));
        svg.appendChild(dot);
      }
    });
    if (line) { svg.insertBefore(svgElement("path", {class: "line", d: line.trim()}), svg.firstChild); }
    var card = document.getElementById("chart-" + chart.key);
    card.querySelector(".chart-summary").textContent = chart.summary(values, series, chart);
    card.replaceChild(svg, card.querySelector("svg"));
  }

  var chartsSection = document.getElementById("charts");
  var currentRange = config.defaultRange;
  window.opsSeriesFetches = 0;

  function loadSeries() {
    var range = currentRange;
    return getJson(config.seriesUrl + "?range=" + encodeURIComponent(range)).then(function (series) {
      if (series.range !== currentRange) { return; }  // an answer for a range no longer shown
      CHARTS.forEach(function (chart) { drawChart(chart, series); });
      chartsSection.setAttribute("data-range", series.range);
      window.opsSeriesFetches += 1;
    }).catch(function () {});
  }

  Array.prototype.forEach.call(document.querySelectorAll("#ranges button"), function (button) {
    button.addEventListener("click", function () {
      currentRange = button.getAttribute("data-range");
      Array.prototype.forEach.call(document.querySelectorAll("#ranges button"), function (other) {
        other.setAttribute("aria-pressed", other === button ? "true" : "false");
      });
      loadSeries();
    });
  });

  render(initial);
  fitToPoints(initial);
  connect();
  loadSeries();
  setInterval(loadSeries, SERIES_REFRESH_MS);
  // Keeps the broadcaster running while this page is open (each token fetch says "someone watches").
  setInterval(function () { getJson(config.tokenUrl).catch(function () {}); }, 60000);
})();
