"""Exports spans to an OTLP/HTTP endpoint with the OpenTelemetry Python SDK.

Usage: otlp_export.py ENDPOINT SESSION_ID

A parent span carrying the session (`gen_ai.conversation.id`), a child span
without it (it joins the session through its trace) with a governance
decision event and an error status, and a span of another trace with no
session. The SDK's own OTLP/HTTP exporter (protobuf) sends them; the exit
status says whether the export succeeded. Prints the trace id of the
session's trace, hex.
"""

import sys

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

endpoint, session_id = sys.argv[1], sys.argv[2]

results = []


class Recording(OTLPSpanExporter):
    def export(self, spans):
        result = super().export(spans)
        results.append(result)
        return result


provider = TracerProvider(resource=Resource.create({"service.name": "python-estate"}))
provider.add_span_processor(SimpleSpanProcessor(Recording(endpoint=f"{endpoint}/v1/traces")))
tracer = provider.get_tracer("otlp-interop")

with tracer.start_as_current_span("python handler", kind=SpanKind.SERVER) as parent:
    parent.set_attribute("gen_ai.conversation.id", session_id)
    parent.set_attribute("http.route", "/refund")
    with tracer.start_as_current_span("execute_tool refund", kind=SpanKind.INTERNAL) as child:
        child.set_attribute("gen_ai.tool.name", "refund")
        child.add_event(
            "gen_ai.guardrail.result",
            {
                "gen_ai.guardrail.component.name": "TapPass",
                "gen_ai.guardrail.result.type": "decision",
                "gen_ai.guardrail.result.value": "policy_block",
                "gen_ai.guardrail.policy.rule.id": "refund_limit",
                "retries": 2,
                "ratio": 0.5,
                "flags": [True, False],
            },
        )
        child.set_status(Status(StatusCode.ERROR, "policy_block"))
    trace_id = format(parent.get_span_context().trace_id, "032x")

with tracer.start_as_current_span("unrelated"):
    pass

provider.shutdown()
if not results or any(r != SpanExportResult.SUCCESS for r in results):
    sys.exit(f"export failed: {results}")
print(trace_id)
