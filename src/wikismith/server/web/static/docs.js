// Swagger UI over this server's own OpenAPI schema; the validator badge (which calls an outside service) is off.
window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  if (!root || !window.SwaggerUIBundle) return;
  window.SwaggerUIBundle({ url: root.dataset.spec, dom_id: "#swagger-ui", validatorUrl: null, deepLinking: true });
});
