// Swagger UI for /openapi.json (loaded as a file: the portal's CSP forbids inline scripts).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
