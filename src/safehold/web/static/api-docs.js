// Starts Swagger UI on /docs (web/apidocs.py). A file, not an inline script: the page runs
// under the same content security policy as every other page (script-src 'self').
"use strict";
(function () {
  const root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    deepLinking: true,
    validatorUrl: null, // no badge fetched from a third party
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
