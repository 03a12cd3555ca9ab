// The API docs page: Swagger UI (from the pinned swagger-ui-bundle package, served by this node) for
// /api/openapi.json. Every request it makes, the document itself and "Try it out", carries the API key.
"use strict";

startPage(async () => {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: false,
    validatorUrl: null, // no badge from an outside validator: the page stays offline
    tryItOutEnabled: false,
    requestInterceptor: (request) => {
      const key = api.key();
      if (key) {
        request.headers["X-API-Key"] = key;
      }
      return request;
    },
  });
});
