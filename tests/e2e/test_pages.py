"""Login/home, language switch, device checks (including a denied camera permission)."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import LiveServer, login, screenshot


def test_login_shows_todays_timetable_and_switches_language(
    new_context: Any, live_server: LiveServer, make_lesson: Any
) -> None:
    lesson = make_lesson(title="三年级数学 · 今日课表")
    page = new_context().new_page()
    page.goto("/")
    page.get_by_label("账号").fill("teacher")
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    page.locator("#login-error", has_text="账号或密码错误").wait_for()

    login(page, "teacher")
    row = page.locator(f"#today-table tr[data-lesson-id='{lesson.id}']")
    row.wait_for()
    assert "三年级数学 · 今日课表" in row.inner_text() and "未开始" in row.inner_text()
    assert row.get_by_role("link", name="准备上课").get_attribute("href") == (
        f"./teacher.html?lesson={lesson.id}"
    )
    # The shortcuts lead to every part of the product a teacher uses.
    for link_id, href in (
        ("link-playback", "./playback.html"),
        ("link-library", "./library.html"),
        ("link-notices", "./notices.html"),
        ("link-research", "./research.html"),
        ("link-meeting", "./meeting.html"),
    ):
        assert page.locator(f"#{link_id}").get_attribute("href") == href
    assert page.locator("#link-library").inner_text() == "课程资源库"
    screenshot(page, "home-teacher")

    page.get_by_label("界面语言").select_option("en")
    page.get_by_role("heading", name="Today's timetable", exact=False).wait_for()
    assert page.evaluate("document.documentElement.lang") == "en"
    assert "Scheduled" in row.inner_text()
    page.get_by_label("Language").select_option("zh-CN")
    page.get_by_role("button", name="退出登录").click()
    page.get_by_role("button", name="登录").wait_for()


def test_device_check_shows_camera_and_microphone(new_context: Any) -> None:
    page = new_context().new_page()
    page.goto("/devices")
    message = page.locator("#device-message")
    message.wait_for()
    assert message.get_attribute("data-key") == "devices.ok", message.inner_text()
    page.wait_for_function("() => document.getElementById('device-preview').videoWidth === 320")
    assert page.locator("#camera-select option").count() >= 1
    assert page.locator("#mic-select option").count() >= 1
    # The fake microphone plays a tone: the level meter moves.
    page.wait_for_function("() => Number(document.querySelector('.meter').dataset.peak || 0) > 5")
    screenshot(page, "device-check")


def test_denied_camera_permission_shows_message(
    new_context: Any, denying_browser: Any, make_lesson: Any
) -> None:
    lesson = make_lesson(title="权限被拒绝")
    page = new_context(on=denying_browser).new_page()
    page.goto("/devices")
    message = page.locator("#device-message")
    message.wait_for()
    assert message.get_attribute("data-key") == "media.error.denied"
    assert "浏览器未允许使用摄像头或麦克风" in message.inner_text()
    assert message.get_attribute("role") == "alert"
    screenshot(page, "device-denied")

    # The teacher's pre-join check says the same, and the lesson can still be joined.
    login(page, "teacher", f"/web/teacher.html?lesson={lesson.id}")
    page.locator("#device-message[data-key='media.error.denied']").wait_for()
    assert page.get_by_role("button", name="开始上课").is_enabled()
