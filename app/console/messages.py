"""Chinese words for the stable error codes the API gives (the code is always shown beside them)."""

from __future__ import annotations

__all__ = ["FIELD_ZH", "message_zh"]

_ZH = {
    # the form and the people
    "required": "必填",
    "type": "类型不对",
    "format": "格式不对",
    "choice": "不是可选的值",
    "range": "超出范围",
    "unknown_field": "不是此类证明的字段",
    "checksum": "身份证号校验位不对",
    "birth_date": "身份证号中的出生日期无效",
    "address_code": "身份证号中的地址码在出生年份不存在",
    "region": "不是现行县级行政区划代码",
    "scope": "超出本机构的签发范围",
    "out_of_scope": "超出本机构的签发范围",
    "future": "晚于签发时间",
    "unexpected": "未隔离时应为空",
    "plate": "不是有效的车牌号",
    "too_old": "采样时间过早",
    "symptomatic": "申报有症状，不能签发",
    "under_quarantine": "正在隔离观察，不能签发",
    "red": "红码不能签发",
    "positive": "只证明阴性结果",
    "key_area": "途经重点地区，不能签发",
    "resident_since": "在本地居住时间不足",
    # sign-in and accounts
    "wrong_credentials": "用户名或密码错误",
    "account_disabled": "账号已停用",
    "too_many_failed_signins": "登录失败次数过多，请稍后再试",
    "csrf_failed": "表单已失效，请刷新页面后重试",
    "wrong_password": "当前密码不对",
    "password_too_short": "密码至少 10 个字符",
    "password_too_long": "密码最多 128 个字符",
    "password_contains_username": "密码不能包含用户名",
    "password_unchanged": "新密码不能与当前密码相同",
    "password_mismatch": "两次输入的新密码不一致",
    "invalid_username": "用户名为 3 到 32 个小写字母、数字或 . _ -",
    "username_taken": "用户名已被占用",
    "operator_exists": "同名操作员已存在",
    "operator_not_found": "没有这个操作员",
    "account_not_found": "这个操作员没有登录账号",
    "invalid_role": "角色不对",
    "forbidden": "没有权限",
    "unsupported_media_type": "提交的格式不对",
    "bad_request": "请求无法读取",
    "invalid_reason": "请填写 1 到 200 字的原因",
    "certificate_not_found": "没有这份证明",
    "already_revoked": "证明已撤销",
    "not_suspended": "只有已暂停的证明才能恢复",
    "confirmation_required": "请勾选确认",
    "invalid_csv": "CSV 文件无法读取",
    "unknown_column": "不是申请字段",
    "too_many_rows": "行数过多",
    "body_too_large": "文件过大",
    "invalid_request": "请求不对",
    "idempotency_key_reused": "重复提交的内容不同",
    "too_many_certificates": "一张打印单最多 120 份证明",
    "seal_too_large": "印章图片过大",
    "seal_not_png": "印章须为 PNG 图片",
    "seal_dimensions": "印章图片尺寸不符",
    "seal_unreadable": "印章图片无法读取",
}

#: Chinese labels of the application fields (the API's field names).
FIELD_ZH = {
    "kind": "证明类型",
    "name": "姓名",
    "resident_id": "身份证号",
    "origin_region": "户籍/出发地区划代码",
    "resident_since": "在本地居住起始日",
    "symptoms": "症状",
    "quarantine": "隔离情况",
    "quarantine_released_on": "解除隔离日期",
    "health_code": "健康码",
    "destination_province": "目的地省份代码",
    "employer": "用工单位",
    "valid_days": "有效天数",
    "role": "身份",
    "vehicle_plate": "车牌号",
    "test_kind": "检测类型",
    "test_result": "检测结果",
    "sampled_at": "采样时间",
    "testing_institution": "检测机构",
    "route_origin": "路线起点区划代码",
    "route_destination": "路线终点区划代码",
    "no_key_area_passage": "未途经重点地区",
}


def message_zh(code: str, fallback: str = "") -> str:
    """Return the Chinese words for ``code`` (the English message when there are none yet)."""
    return _ZH.get(code, fallback or code)
