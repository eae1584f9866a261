from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, str]:
    return {"node_name": settings.TIERS_NODE_NAME}
