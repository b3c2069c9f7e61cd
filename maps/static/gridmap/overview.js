// Overview map: communities and current grids, fetched page by page from the read API.
"use strict";

async function gridmapOverview(map) {
  const panel = document.getElementById("gridmap-panel");
  try {
    const [communities, grids] = await Promise.all([
      gridmapFetchPages("/api/communities", 500, { nameUrl: true }),
      gridmapFetchPages("/api/grids", 1000, { nameUrl: true }),
    ]);
    const gridLayer = L.geoJSON(grids, {
      style: { color: "#2c7fb8", weight: 1, fillOpacity: 0.08 },
      onEachFeature: (f, layer) => layer.bindPopup(
        `网格 ${gridmapEscape(f.properties.name)}<br>编码 ${gridmapEscape(f.properties.code)}`),
    }).addTo(map);
    const communityLayer = L.geoJSON(communities, {
      style: { color: "#d95f0e", weight: 3, fill: false },
      onEachFeature: (f, layer) => layer.bindTooltip(gridmapEscape(f.properties.name), { permanent: true, direction: "center",
                                                                           className: "gridmap-label" }),
    }).addTo(map);
    L.control.layers(null, { "社区 communities": communityLayer, "网格 grids": gridLayer }).addTo(map);
    const bounds = communityLayer.getBounds().isValid() ? communityLayer.getBounds() : gridLayer.getBounds();
    if (bounds.isValid()) map.fitBounds(bounds);
    panel.textContent = `网格总览：${communities.features.length} 个社区，${grids.features.length} 个网格`;
    panel.dataset.ready = "true";
  } catch (error) {
    panel.textContent = `加载失败：${error.message}`;
    panel.dataset.ready = "error";
  }
}
