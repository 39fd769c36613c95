from decimal import Decimal

from actions_api import Action, serialization


class Money:
    def __init__(self, amount, currency):
        self.amount = Decimal(amount)
        self.currency = currency


serialization.register_serializer(
    Money,
    "guide_actions.Money",
    to_data=lambda m: {"amount": str(m.amount), "currency": m.currency},
    from_data=lambda d: Money(d["amount"], d["currency"]),
)


class Invoice(Action):
    """Total an invoice; the total is a Money value."""

    def __init__(self, lines):
        self.lines = lines

    def run(self, context):
        total = sum(Decimal(str(line["price"])) * line["qty"] for line in self.lines)
        return {"total": Money(total, "EUR"), "lines": len(self.lines)}
