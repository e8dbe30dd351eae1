"""The course's locust scenarios (wdm-project-benchmark), with whole-number amounts.

Two user classes, pick one on the command line (run.sh does):

  CourseUser    the six course scenarios, weights 5/30/25/20/10/10, 1 to 3 s wait
  CheckoutUser  the stress test: checkouts of random order ids "0".."99999" as fast as
                possible, after `ops bench populate` (the three batch_init calls)

Every request goes to the gateway given with --host. A scenario that must fail (not enough
stock, not enough credit) is counted as a locust failure when its checkout succeeds, and a
scenario that must succeed is a failure when it does not (locust's default for non-2xx).
"""

import os
import random

from locust import FastHttpUser, HttpUser, SequentialTaskSet, between, task

N_ORDERS = int(os.environ.get("N_ORDERS", "100000"))


def create_item(ts):
    price = random.randint(1, 10)
    with ts.client.post(f"/stock/item/create/{price}", name="/stock/item/create/[price]",
                        catch_response=True) as r:
        try:
            ts.item_ids.append(r.json()["item_id"])
        except Exception as e:  # noqa: BLE001 - any malformed answer is a failure
            r.failure(f"no item_id in answer ({r.status_code}): {e}")
            ts.interrupt()


def add_stock(ts, idx):
    amount = random.randint(100, 1000)
    ts.client.post(f"/stock/add/{ts.item_ids[idx]}/{amount}", name="/stock/add/[item_id]/[number]")


def create_user(ts):
    with ts.client.post("/payment/create_user", name="/payment/create_user",
                        catch_response=True) as r:
        try:
            ts.user_id = r.json()["user_id"]
        except Exception as e:  # noqa: BLE001
            r.failure(f"no user_id in answer ({r.status_code}): {e}")
            ts.interrupt()


def add_balance(ts):
    # The course file adds random.uniform(10000.0, 100000.0): a float. Whole numbers here.
    amount = random.randint(10000, 100000)
    ts.client.post(f"/payment/add_funds/{ts.user_id}/{amount}",
                   name="/payment/add_funds/[user_id]/[amount]")


def create_order(ts):
    with ts.client.post(f"/orders/create/{ts.user_id}", name="/orders/create/[user_id]",
                        catch_response=True) as r:
        try:
            ts.order_id = r.json()["order_id"]
        except Exception as e:  # noqa: BLE001
            r.failure(f"no order_id in answer ({r.status_code}): {e}")
            ts.interrupt()


def add_item(ts, idx):
    ts.client.post(f"/orders/addItem/{ts.order_id}/{ts.item_ids[idx]}",
                   name="/orders/addItem/[order_id]/[item_id]")


def remove_item(ts, idx):
    ts.client.delete(f"/orders/removeItem/{ts.order_id}/{ts.item_ids[idx]}",
                     name="/orders/removeItem/[order_id]/[item_id]")


def checkout(ts):
    ts.client.post(f"/orders/checkout/{ts.order_id}", name="/orders/checkout/[order_id]")


def checkout_must_fail(ts, reason):
    name = "/orders/checkout/[order_id] (must fail: %s)" % ("stock" if reason == 0 else "credit")
    with ts.client.post(f"/orders/checkout/{ts.order_id}", name=name, catch_response=True) as r:
        if 400 <= r.status_code < 500:
            r.success()
        else:
            r.failure(f"checkout that must fail answered {r.status_code}")


class Scenario(SequentialTaskSet):
    def on_start(self):
        self.item_ids = []
        self.user_id = None
        self.order_id = None


class AdminAddsStock(Scenario):
    """LoadTest1: an admin creates an item and adds stock to it."""

    @task
    def t1(self): create_item(self)
    @task
    def t2(self): add_stock(self, 0)
    @task
    def done(self): self.interrupt()


class CheckoutOneItem(Scenario):
    """LoadTest2: a user checks out an order with one item."""

    @task
    def t1(self): create_user(self)
    @task
    def t2(self): add_balance(self)
    @task
    def t3(self): create_order(self)
    @task
    def t4(self): create_item(self)
    @task
    def t5(self): add_stock(self, 0)
    @task
    def t6(self): add_item(self, 0)
    @task
    def t7(self): checkout(self)
    @task
    def done(self): self.interrupt()


class CheckoutTwoItems(Scenario):
    """LoadTest3: a user checks out an order with two items."""

    @task
    def t1(self): create_user(self)
    @task
    def t2(self): add_balance(self)
    @task
    def t3(self): create_order(self)
    @task
    def t4(self): create_item(self)
    @task
    def t5(self): create_item(self)
    @task
    def t6(self): add_stock(self, 0)
    @task
    def t7(self): add_stock(self, 1)
    @task
    def t8(self): add_item(self, 0)
    @task
    def t9(self): add_item(self, 1)
    @task
    def t10(self): checkout(self)
    @task
    def done(self): self.interrupt()


class AddRemoveAddCheckout(Scenario):
    """LoadTest4: a user adds an item, removes it, adds it again and checks out."""

    @task
    def t1(self): create_user(self)
    @task
    def t2(self): add_balance(self)
    @task
    def t3(self): create_order(self)
    @task
    def t4(self): create_item(self)
    @task
    def t5(self): add_stock(self, 0)
    @task
    def t6(self): add_item(self, 0)
    @task
    def t7(self): remove_item(self, 0)
    @task
    def t8(self): add_item(self, 0)
    @task
    def t9(self): checkout(self)
    @task
    def done(self): self.interrupt()


class FailsForStock(Scenario):
    """LoadTest5: a two-item order where one item has no stock: the checkout must fail."""

    @task
    def t1(self): create_user(self)
    @task
    def t2(self): add_balance(self)
    @task
    def t3(self): create_order(self)
    @task
    def t4(self): create_item(self)
    @task
    def t5(self): create_item(self)
    @task
    def t6(self): add_stock(self, 0)
    @task
    def t7(self): add_item(self, 0)
    @task
    def t8(self): add_item(self, 1)
    @task
    def t9(self): checkout_must_fail(self, 0)
    @task
    def done(self): self.interrupt()


class FailsForCredit(Scenario):
    """LoadTest6: a user without credit checks out: the checkout must fail."""

    @task
    def t1(self): create_user(self)
    @task
    def t2(self): create_order(self)
    @task
    def t3(self): create_item(self)
    @task
    def t4(self): add_stock(self, 0)
    @task
    def t5(self): add_item(self, 0)
    @task
    def t6(self): checkout_must_fail(self, 1)
    @task
    def done(self): self.interrupt()


class CourseUser(HttpUser):
    """The course's MicroservicesUser: six scenarios, weights 5/30/25/20/10/10."""

    wait_time = between(1, 3)
    tasks = {
        AdminAddsStock: 5,
        CheckoutOneItem: 30,
        CheckoutTwoItems: 25,
        AddRemoveAddCheckout: 20,
        FailsForStock: 10,
        FailsForCredit: 10,
    }


class CheckoutUser(FastHttpUser):
    """The stress test: checkouts of random order ids "0".."N_ORDERS-1" (run `ops bench populate` first).

    Repeats are expected: a second checkout of a paid order must answer 2xx and charge nothing.
    With the populated stock and credit every checkout must succeed.
    """

    wait_time = between(0, 0)

    @task
    def checkout_random(self):
        order_id = random.randrange(N_ORDERS)
        self.client.post(f"/orders/checkout/{order_id}", name="/orders/checkout/[order_id]")
