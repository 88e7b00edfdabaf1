// The request page's key step (issue #10.2), progressive enhancement over a form that stays
// hidden without script. 1. make each key and CSR here; 2. post the CSRs (and the password only
// when the server returns keys of its own) with the form's antiforgery token; 3. put each key and
// its certificates into a password-protected PFX, offered as a file to save.
import { certificatesOf, fromBase64, makeKeyAndRequest, makePfx } from "./keys.js";

const form = document.getElementById("issue-keys");
if (form) {
  form.hidden = false;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(form).catch((error) => say(form, `Nothing was saved: ${error.message}`, true));
  });
}

async function run(form) {
  const password = form.elements.namedItem("password").value;
  const confirm = document.getElementById("pfx-confirm");
  if (password !== confirm.value) {
    confirm.setCustomValidity("The two passwords differ.");
    confirm.reportValidity();
    confirm.setCustomValidity("");
    return;
  }

  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    // 1. Keys and CSRs, one per certificate the template lets the client make.
    const options = JSON.parse(form.dataset.options || "[]");
    say(form, options.length > 0 ? "Making your key…" : "Asking for your keys…");
    const made = [];
    for (const option of options) {
      made.push(await makeKeyAndRequest(option));
    }

    // 2. The same step as POST certificatedata, under the page's session and antiforgery token.
    const body = new FormData();
    body.append("__RequestVerificationToken", form.elements.namedItem("__RequestVerificationToken").value);
    for (const m of made) {
      body.append("csr", m.pem);
    }

    if (form.dataset.serverKeys === "true") {
      body.append("password", password);
    }

    say(form, "Asking the CA for your certificate…");
    const response = await fetch(form.action, { method: "POST", body, headers: { Accept: "application/json" }, credentials: "same-origin" });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error(answer.detail || `the server answered ${response.status}`);
    }

    // 3. A PFX per browser key (its certificate first, then the CA's); the server's PFX files as they came.
    const list = document.getElementById("issue-files");
    for (const file of answer.files) {
      let bytes;
      if (file.kind === "pkcs7") {
        const owner = await ownerOf(made, file.data);
        bytes = await makePfx(owner.key.keys.privateKey, owner.certificates, password, file.name.replace(/\.pfx$/, ""));
      } else {
        bytes = new Uint8Array(fromBase64(file.data));
      }

      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([bytes], { type: "application/x-pkcs12" }));
      link.download = file.name;
      link.textContent = `Save ${file.name}${file.keyHistory ? " (an earlier key)" : ""}`;
      const item = document.createElement("li");
      item.append(link);
      list.append(item);
    }

    form.querySelectorAll("input").forEach((input) => {
      input.value = "";
      input.disabled = true;
    });
    button.hidden = true;
    say(form, `Your ${answer.files.length === 1 ? "file is" : "files are"} ready: save ${answer.files.length === 1 ? "it" : "them"}; the request completes once you do.`);

    // 4. Saving a file completes the request (issue #23.11): the certificates are issued and
    //    the file is the user's, so no second button. The links stay, for the other files.
    list.addEventListener("click", (event) => {
      if (event.target instanceof HTMLAnchorElement && !form.dataset.completing) {
        form.dataset.completing = "true";
        complete(form).catch((error) => {
          say(form, `Your file is saved, but the request could not be completed: ${error.message}. Mark it complete below.`, true);
          document.getElementById("finish")?.removeAttribute("hidden");
        });
      }
    });
    list.querySelector("a")?.focus();
  } finally {
    button.disabled = false;
  }
}

// Marks the request complete as the page's Finish form would (its End handler, the same use
// case as PUT Completed), under the page's session and antiforgery token.
async function complete(form) {
  const finish = document.querySelector("#finish form");
  if (!finish) {
    throw new Error("the page offers no way to complete it");
  }

  // The Finish form's own token: the key form's inputs were cleared once the files were ready.
  const body = new FormData();
  body.append("__RequestVerificationToken", finish.elements.namedItem("__RequestVerificationToken").value);
  body.append("status", "Completed");
  const response = await fetch(finish.action, { method: "POST", body, credentials: "same-origin" });
  if (!response.ok) {
    throw new Error(`the server answered ${response.status}`);
  }

  document.getElementById("request-status").textContent = "Completed";
  document.getElementById("next-heading").textContent = "Completed";
  document.getElementById("next-detail").textContent = "Your file is saved and the request is complete. Install the file with the password you chose.";
  say(form, "Saved: the request is complete.");
}

// The browser key whose public key the PKCS#7's certificate carries.
async function ownerOf(made, pkcs7) {
  for (const key of made) {
    try {
      return { key, certificates: await certificatesOf(pkcs7, key.keys.publicKey) };
    } catch {
      // not this key's certificate
    }
  }

  throw new Error("the CA returned a certificate for no key made here");
}

function say(form, text, error = false) {
  const status = document.getElementById("issue-status");
  status.textContent = text;
  status.classList.toggle("error", error);
}
