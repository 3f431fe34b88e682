// The officers' sign-in: the session cookie is HttpOnly, this page never sees it.
document.getElementById("signin").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("error");
  const button = event.target.querySelector("button");
  button.disabled = true;
  error.hidden = true;
  try {
    const response = await fetch("/api/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        login: document.getElementById("login").value,
        password: document.getElementById("password").value,
      }),
    });
    const body = await response.json().catch(() => ({}));
    if (response.ok) {
      location.replace("/" + (sessionStorage.getItem("baocao.after_login") || ""));
      return;
    }
    error.textContent = body.message_vi || "Không đăng nhập được.";
    error.hidden = false;
  } catch (exc) {
    error.textContent = "Không kết nối được máy chủ.";
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
});
