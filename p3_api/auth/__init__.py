"""Who may call the API: API keys, OAuth2 client-credentials tokens, external OIDC tokens, roles.

Nothing heavy is imported here, so ``p3 api-keys`` starts without FastAPI.
"""
