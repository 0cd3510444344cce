// What a CRM developer does on /docs, driven in the page: wait for Swagger UI to list the routes,
// press Authorize and paste the key, open POST /score, "Try it out" with the example body, Execute.
// Called with the key; returns what the page showed (tests/serving/test_docs_page.py).
async (key) => {
  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
  const until = async (found, what, ms = 30000) => {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) {
      const value = found();
      if (value) return value;
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  const type = (input, value) => {  // as typing does: React reads the native setter's value
    Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set.call(input, value);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  };

  await until(() => document.querySelectorAll(".opblock").length >= 6, "the routes");
  const routes = [...document.querySelectorAll(".opblock")].map(
    (op) => `${op.querySelector(".opblock-summary-method").textContent} ` +
      op.querySelector(".opblock-summary-path").dataset.path,
  );
  document.querySelector(".auth-wrapper .btn.authorize").click();
  const keyForm = () =>  // found afresh each time: React may replace the node
    [...document.querySelectorAll(".modal-ux .auth-container")].find((f) => f.textContent.includes("X-API-Key"));
  type((await until(keyForm, "the API key form")).querySelector("input"), key);
  keyForm().querySelector("button.authorize").click();
  await until(() => keyForm()?.textContent.includes("Authorized"), "the key to be taken");
  document.querySelector(".modal-ux button.close-modal").click();

  const op = document.querySelector("#operations-Scoring-score");
  op.querySelector(".opblock-summary-control").click();
  (await until(() => op.querySelector(".try-out__btn"), "Try it out")).click();
  const sent = (await until(() => op.querySelector("textarea.body-param__text"), "the example body")).value;
  (await until(() => op.querySelector(".btn.execute"), "Execute")).click();
  const status = await until(
    () => op.querySelector(".live-responses-table .response .response-col_status"),
    "the answer",
  );
  const shown = {
    title: document.title,
    heading: document.querySelector(".info .title").textContent,
    routes,
    sent,
    status: status.textContent.trim(),
    answer: op.querySelector(".live-responses-table .response-col_description pre").textContent,
  };
  op.querySelector(".opblock-summary-control").click();  // folded again: the screenshot shows every route
  await until(() => !op.querySelector(".opblock-body"), "the route to fold");
  window.scrollTo(0, 0);
  return shown;
}
