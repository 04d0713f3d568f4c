"""The entities the simulator serves and what QuickBooks does to a record's own fields when it is written.

Field names per entity come from Intuit's XSDs (``specs/intuit-qbo-xsd``); QuickBooks refuses a body
naming any other top-level field with fault 2010.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plugins.quickbooks.sim_wire import (
    business_rule,
    invalid_email,
    required_param,
    unknown_field,
)

_FIELDS = {
    "Customer": """
        ARAccountRef AcctNum Active AltContactName AlternatePhone AttachableRef Balance
        BalanceWithJobs BillAddr BillWithParent BusinessNumber CCDetail ClientCompanyId
        ClientEntityId CompanyName ContactName CreditLimit CurrencyRef CustomField CustomerEx
        CustomerTypeRef DefaultTaxCodeRef DisplayName FamilyName Fax FullyQualifiedName GSTIN
        GSTRegistrationType GivenName Id IntuitId IsCISContractor IsProject Job JobInfo Level
        MetaData MiddleName Mobile Notes OpenBalanceDate Organization OtherAddr OtherContactInfo
        OverDueBalance ParentRef PaymentMethodRef PreferredDeliveryMethod PriceLevelRef
        PrimaryEmailAddr PrimaryPhone PrimaryTaxIdentifier PrintOnCheckName ResaleNum
        RootCustomerRef SalesRepRef SalesTermRef SecondaryTaxIdentifier ShipAddr Source Suffix
        SyncToken TDSEnabled TaxExemptionReasonId TaxGroupCodeRef TaxRateRef TaxRegime Taxable Title
        TotalExpense TotalRevenue UserId V4IDPseudonym WebAddr domain sparse status
    """,
    "Vendor": """
        APAccountRef AcctNum Active AltContactName AlternatePhone AttachableRef Balance BillAddr
        BillRate BusinessNumber CISRate CompanyName ContactName CostRate CreditLimit CurrencyRef
        CustomField DefaultTaxCodeRef DisplayName FamilyName Fax FullyQualifiedName GSTIN
        GSTRegistrationType GivenName HasTPAR Id IntuitId IsSubContractor MetaData MiddleName Mobile
        Notes OpenBalanceDate Organization OtherAddr OtherContactInfo ParentRef PrefillAccountRef
        PrimaryEmailAddr PrimaryPhone PrintOnCheckName ShipAddr Source SubcontractorType Suffix
        SyncToken T4AEligible T5018Eligible TDSEnabled TDSEntityTypeId TDSOverrideThreshold
        TDSSectionTypeId TaxCountry TaxIdEffectiveDate TaxIdentifier TaxReportingBasis TermRef Title
        UserId V4IDPseudonym Vendor1099 VendorEx VendorPaymentBankDetail VendorTypeRef WebAddr
        domain sparse status
    """,
    "Employee": """
        Active AlternatePhone AttachableRef BillRate BillableTime BirthDate CompanyName CostRate
        CustomField DefaultTaxCodeRef DisplayName EmployeeEx EmployeeNumber EmployeeType FamilyName
        Fax FullyQualifiedName Gender GivenName HiredDate Id IntuitId MetaData MiddleName Mobile
        Notes Organization OtherAddr OtherContactInfo PrimaryAddr PrimaryEmailAddr PrimaryPhone
        PrintOnCheckName ReleasedDate SSN Suffix SyncToken Title UseTimeEntry UserId V4IDPseudonym
        WebAddr domain sparse status
    """,
    "Item": """
        AbatementRate Active AssetAccountRef AttachableRef AvgCost BuildPoint COGSAccountRef
        ClassRef CustomField DeferredRevenue DepositToAccountRef Description ExpenseAccountRef
        FullyQualifiedName Id IncomeAccountRef InvStartDate ItemAssemblyDetail ItemCategoryType
        ItemEx ItemGroupDetail Level ManPartNum MetaData Name ParentRef PaymentMethodRef
        PercentBased PrefVendorRef PrintGroupedItems PurchaseCost PurchaseDesc PurchaseTaxCodeRef
        PurchaseTaxIncluded QtyOnHand QtyOnPurchaseOrder QtyOnSalesOrder RatePercent ReorderPoint
        ReverseChargeRate SalesTaxCodeRef SalesTaxIncluded ServiceType Sku Source SpecialItem
        SpecialItemType SubItem SyncToken TaxClassificationRef Taxable TrackQtyOnHand Type UOMSetRef
        UQCDisplayText UQCId UnitPrice domain sparse status
    """,
    "Invoice": """
        ARAccountRef AllowIPNPayment AllowOnlineACHPayment AllowOnlineCreditCardPayment
        AllowOnlinePayPalPayment AllowOnlinePayment ApplyTaxAfterDiscount AttachableRef
        AutoDocNumber AutoPayEligible Balance BillAddr BillEmail BillEmailBcc BillEmailCc CfdiUse
        CheckPayment ClassRef ConvenienceFeeDetail CreditCardPayment CurrencyRef CustomField
        CustomerMemo CustomerRef DeliveryInfo DepartmentRef Deposit DepositToAccountRef DiscountAmt
        DiscountRate DocNumber DueDate ECloudStatusTimeStamp EInvoiceStatus EmailStatus ExchangeRate
        Exportation FOB FinanceCharge FinancingProductType FreeFormAddress GlobalInfo
        GlobalTaxCalculation GovtTxnRefIdentifier GratuityEnabled HomeBalance HomeTotalAmt
        HomeTotalCostAmount Id InvoiceEx InvoiceLink InvoiceLinkExpiryDate InvoiceLinkSecurityCode
        LessCIS Line LinkedTxn MetaData PONumber PaymentDetailsMessage PaymentMethodRef
        PaymentRefNum PaymentType PrintStatus PrivateNote ProjectRef RecurDataRef RecurringInfo
        RemitToRef SalesRepRef SalesTermRef SchedulePayEligible ScheduledPaymentId ShipAddr ShipDate
        ShipFromAddr ShipMethodRef ShippingTaxIncludedInTotalTax SubscriptionPaymentsSetting
        SyncToken Tag TaxExemptionRef TaxFormNum TaxFormType TemplateRef TotalAmt TotalCostAmount
        TrackingNum TransactionLocationType TxnApprovalInfo TxnDate TxnSource TxnStatus TxnTaxDetail
        callToAction domain invoiceStatus invoiceStatusLog sparse status
    """,
    "Account": """
        AccountAlias AccountPurposes AccountSubType AccountType AcctNum AcctNumExtn Active BankNum
        Classification CurrencyRef CurrentBalance CurrentBalanceWithSubAccounts CustomField Description
        FIName FullyQualifiedName Id JournalCodeRef MetaData Name OnlineBankingEnabled OpeningBalance
        OpeningBalanceDate ParentRef SubAccount SyncToken TaxAccount TaxCodeRef TxnLocationType domain
        sparse status
    """,
    "Bill": """
        APAccountRef AttachableRef Balance BillEmail BillEx CurrencyRef CustomField DepartmentRef
        DocNumber DueDate ExchangeRate GlobalTaxCalculation HomeBalance HomeTotalCostAmount Id
        IncludeInAnnualTPAR LessCIS Line LinkedTxn Memo MetaData PayerRef PrivateNote ProjectRef
        RecurDataRef RecurringInfo RemitToAddr ReplyEmail SalesTermRef ShipAddr SyncToken Tag
        TaxFormNum TaxFormType TotalAmt TotalCostAmount TransactionLocationType TxnApprovalInfo
        TxnDate TxnSource TxnStatus TxnTaxDetail VendorAddr VendorRef domain sparse status
    """,
}

SERVER_FIELDS = frozenset({"Id", "SyncToken", "MetaData", "domain", "sparse", "status", "FullyQualifiedName"})
"""Fields QuickBooks sets itself; a body's values for them are ignored."""

_NAME_PARTS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
_FORBIDDEN_IN_NAMES = (":", "\t", "\n")


@dataclass(frozen=True, slots=True)
class EntityType:
    """One QBO entity the simulator serves and the rules QuickBooks applies to it."""

    name: str
    id_space: str
    """Records in one space share an Id sequence: names (customers, vendors, employees), items, transactions."""
    is_list: bool
    """List entities have ``Active`` and no delete; transactions can be deleted."""
    unique_field: str | None
    party_ref: tuple[str, str] | None
    """For a transaction: the required reference field and the entity it names."""
    fields: frozenset[str]

    def knows(self, field: str) -> bool:
        """Whether the entity has a top-level field of this name, in any letter case (as queries name them)."""
        folded = field.lower()
        return any(name.lower() == folded for name in self.fields)


def _entity(name: str, id_space: str, unique: str | None, party: tuple[str, str] | None = None) -> EntityType:
    return EntityType(name, id_space, id_space != "txn", unique, party, frozenset(_FIELDS[name].split()))


ENTITY_TYPES: dict[str, EntityType] = {
    kind.name: kind
    for kind in (
        _entity("Customer", "name", "DisplayName"),
        _entity("Vendor", "name", "DisplayName"),
        _entity("Employee", "name", "DisplayName"),
        _entity("Item", "item", "FullyQualifiedName"),
        _entity("Account", "account", "FullyQualifiedName"),
        _entity("Invoice", "txn", None, ("CustomerRef", "Customer")),
        _entity("Bill", "txn", None, ("VendorRef", "Vendor")),
    )
}
BY_PATH: dict[str, EntityType] = {name.lower(): kind for name, kind in ENTITY_TYPES.items()}
"""Entity types by the lower-case segment of their URL (``/customer``)."""


def compact(value: Any) -> Any:
    """The value without nulls, empty strings and emptied objects: QuickBooks stores and returns none of them."""
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            if isinstance(item, dict | list):
                item = compact(item)
                if not item:
                    continue
            elif item is None or item == "":
                continue
            kept[key] = item
        return kept
    if isinstance(value, list):
        return [item for item in (compact(entry) for entry in value) if item not in (None, "", {}, [])]
    return value


def writable(kind: EntityType, body: dict[str, Any]) -> dict[str, Any]:
    """The fields of a request body a client may write, after refusing unknown ones."""
    for field in body:
        if field not in kind.fields:
            raise unknown_field(kind.name, field)
    return compact({key: value for key, value in body.items() if key not in SERVER_FIELDS})


def prepare(kind: EntityType, fields: dict[str, Any], today: str) -> None:
    """Validate a record's own fields and fill in what QuickBooks derives from them (in place)."""
    _check_emails(fields)
    if kind.unique_field == "DisplayName":
        _prepare_person(kind, fields)
    elif kind.name in ("Item", "Account"):
        if not isinstance(fields.get("Name"), str):
            raise required_param("Name")
        _check_name("Name", fields["Name"])
    elif kind.party_ref is not None:
        _prepare_transaction(kind, fields, today)
    if kind.is_list:
        fields.setdefault("Active", True)


def _prepare_person(kind: EntityType, fields: dict[str, Any]) -> None:
    for part in (*_NAME_PARTS, "DisplayName"):
        if part in fields:
            _check_name(part, fields[part])
    if "DisplayName" not in fields:
        # QuickBooks builds the display name from the name parts when none is given.
        parts = [str(fields[part]) for part in _NAME_PARTS if part in fields]
        if not parts:
            raise required_param("DisplayName")
        fields["DisplayName"] = " ".join(parts)
    fields.setdefault("PrintOnCheckName", fields["DisplayName"])
    if kind.name == "Customer":
        fields.setdefault("BillWithParent", False)
        fields.setdefault("Balance", 0)
        fields["BalanceWithJobs"] = fields["Balance"]
    elif kind.name == "Vendor":
        fields.setdefault("Balance", 0)
        fields.setdefault("Vendor1099", False)


def _check_name(field: str, value: Any) -> None:
    if not isinstance(value, str):
        raise business_rule(f"{field} must be text.")
    if any(mark in value for mark in _FORBIDDEN_IN_NAMES):
        # [G] the code; QuickBooks refuses these characters in names with a validation fault.
        raise business_rule(f"{field} cannot contain a colon (:), a tab or a new line.")


def _check_emails(fields: dict[str, Any]) -> None:
    for field in ("PrimaryEmailAddr", "BillEmail"):
        holder = fields.get(field)
        address = holder.get("Address") if isinstance(holder, dict) else None
        if address is None:
            continue
        for one in str(address).split(","):
            local, at, domain = one.strip().rpartition("@")
            if not (at and local and "." in domain.strip(".")):
                raise invalid_email(str(address))


def _prepare_transaction(kind: EntityType, fields: dict[str, Any], today: str) -> None:
    ref_field = kind.party_ref[0] if kind.party_ref else ""
    if not isinstance(fields.get(ref_field), dict) or "value" not in fields[ref_field]:
        raise required_param(ref_field)
    lines = fields.get("Line")
    if not isinstance(lines, list) or not lines:
        raise business_rule("You must fill out at least one split line.")
    total = 0.0
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, dict) or "DetailType" not in line:
            raise required_param("Line.DetailType")
        line.setdefault("Id", str(number))
        line.setdefault("LineNum", number)
        total += _line_amount(line)
    fields["TotalAmt"] = round(total, 2)
    fields["Balance"] = fields["TotalAmt"]
    fields.setdefault("TxnDate", today)


def _line_amount(line: dict[str, Any]) -> float:
    """What a line adds to the transaction total: subtotals add nothing, discounts subtract."""
    try:
        amount = float(line.get("Amount", 0))
    except (TypeError, ValueError) as error:
        raise business_rule("Line Amount must be a number.") from error
    if line["DetailType"] == "SubTotalLineDetail":
        return 0.0
    if line["DetailType"] == "DiscountLineDetail":
        return -amount
    return amount


ITEM_ACCOUNTS = ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef")
"""An Item's references to the accounts it posts to."""


def check_new_item(fields: dict[str, Any]) -> None:
    """Refuse to create an Item without the accounts and stock details QuickBooks requires of its type."""
    if fields.get("Type") == "Inventory":
        # [G] the element named: Intuit's reference lists these as required for Inventory, in this shape.
        for field in ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef", "InvStartDate", "QtyOnHand"):
            if field not in fields:
                raise required_param(field)
    elif "IncomeAccountRef" not in fields and "ExpenseAccountRef" not in fields:
        # Intuit's own words, as its sandbox answers an Item without either account.
        raise required_param("ExpenseAccountRef or IncomeAccountRef")
