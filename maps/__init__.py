"""Map pages (folium/Leaflet) and the web assets they load — all served by the app itself, never a CDN."""
