"""Error pages in Chinese; JSON for the API blueprint is handled there."""
from __future__ import annotations

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

MESSAGES = {
    400: "请求有误", 403: "无权访问此页面", 404: "页面不存在", 405: "不支持此操作",
    409: "操作冲突", 413: "上传的文件太大", 422: "提交的内容有误", 429: "操作太频繁", 500: "服务器内部错误",
}


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        code = exc.code or 500
        if request.path.startswith("/api/"):
            return {"error": MESSAGES.get(code, exc.name), "errors": {}}, code
        return render_template("error.html", code=code, message=MESSAGES.get(code, exc.name)), code

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> ResponseReturnValue:
        return render_template("error.html", code=400,
                               message="表单已过期或缺少安全令牌，请刷新页面后重试。"), 400
