"""The sign-in form and the signed-in badge of the staff pages (planner, dispatch).

The form posts to /api/auth/token from maps/static/gridmap/common.js (gridmapSignIn); the access token is
kept in the tab's sessionStorage and sent on every API call. Public pages have neither.
"""

from __future__ import annotations

import html

TEXT = {
    "zh": {
        "title": "登录",
        "note": "{page}：请先登录。",
        "username": "用户名",
        "password": "密码",
        "submit": "登录",
        "signing_in": "登录中…",
        "wrong": "用户名或密码错误。",
        "expired": "登录已过期，请重新登录。",
        "failed": "登录失败：",
        "signed_in": "已登录",
        "logout": "退出登录",
    },
    "en": {
        "title": "Sign in",
        "note": "{page}: please sign in.",
        "username": "User name",
        "password": "Password",
        "submit": "Sign in",
        "signing_in": "Signing in…",
        "wrong": "Wrong user name or password.",
        "expired": "Your session has expired: please sign in again.",
        "failed": "Sign-in failed: ",
        "signed_in": "Signed in as",
        "logout": "Sign out",
    },
}


def login_form(lang: str, page: str) -> str:
    """The hidden sign-in dialog; `page` names the page in the note ("网格规划", "grid planner")."""
    t = {k: html.escape(v) for k, v in TEXT["en" if lang == "en" else "zh"].items()}
    note = t["note"].replace("{page}", html.escape(page))
    # Messages the script shows live on the form, so common.js needs no label tables of its own.
    return f"""
<div id="gridmap-login" class="gridmap-login" hidden>
  <form id="gridmap-login-form" class="gridmap-login-box" data-wrong="{t["wrong"]}" data-expired="{t["expired"]}"
        data-failed="{t["failed"]}" data-signing-in="{t["signing_in"]}">
    <h2>{t["title"]}</h2>
    <p class="gridmap-login-note">{note}</p>
    <label>{t["username"]}<input name="username" autocomplete="username" required maxlength="64"></label>
    <label>{t["password"]}<input name="password" type="password" autocomplete="current-password" required></label>
    <div class="gridmap-login-error" role="alert" hidden></div>
    <button type="submit">{t["submit"]}</button>
  </form>
</div>"""


def user_badge(lang: str) -> str:
    """Who is signed in, with the sign-out link (filled in and shown by common.js once signed in)."""
    t = {k: html.escape(v) for k, v in TEXT["en" if lang == "en" else "zh"].items()}
    return (
        f'<div id="gridmap-user" class="gridmap-user" hidden>{t["signed_in"]} <b class="gridmap-user-name"></b>'
        f' · <a href="#" id="gridmap-logout">{t["logout"]}</a></div>'
    )
