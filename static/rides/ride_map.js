// A ride's admin page: its track on a small Leaflet map, with pickup and destination markers. Like /ops/ it works
// without tiles: with no tile URL, or tiles that fail to load, the track still draws on a blank map.
(function () {
  "use strict";
  var element = document.getElementById("ride-map");
  var data = JSON.parse(document.getElementById("ride-map-data").textContent);
  var map = L.map(element, {scrollWheelZoom: false, zoomSnap: 0.25, attributionControl: Boolean(data.tileUrl)});
  if (data.tileUrl) {
    var tiles = L.tileLayer(data.tileUrl, {maxZoom: 19, attribution: data.tileAttribution});
    tiles.on("tileerror", function () { document.getElementById("ride-map-tiles-note").hidden = false; });
    tiles.addTo(map);
  }
  L.control.scale({imperial: false}).addTo(map);

  if (data.track.length > 1) {
    L.polyline(data.track, {color: "#6c3483", weight: 4, opacity: 0.85, className: "ride-track"}).addTo(map);
  }
  data.track.forEach(function (point) {
    L.circleMarker(point, {radius: 3, color: "#6c3483", fillColor: "#ffffff", fillOpacity: 1, weight: 2,
                           className: "ride-track-point"}).addTo(map);
  });
  function place(point, label, color, fill) {
    L.circleMarker(point, {radius: 8, color: color, fillColor: fill, fillOpacity: 1, weight: 2,
                           className: "ride-" + label})
      .bindTooltip(label, {permanent: true, direction: "right", offset: [8, 0]}).addTo(map);
  }
  place(data.pickup, "pickup", "#1e8449", "#27ae60");
  place(data.destination, "destination", "#922b21", "#e74c3c");

  var bounds = L.latLngBounds([data.pickup, data.destination].concat(data.track));
  map.fitBounds(bounds, {padding: [40, 40], maxZoom: 17});
  // The admin's stylesheets may still change the panel's width: fit again once the page has its layout.
  window.addEventListener("load", function () {
    map.invalidateSize();
    map.fitBounds(bounds, {padding: [40, 40], maxZoom: 17});
  });
  element.setAttribute("data-ready", "true");  // for the browser test
})();
