"""The gRPC transport: `reactor.analytics.v1.Analytics` over the same pipeline and engine as HTTP."""
