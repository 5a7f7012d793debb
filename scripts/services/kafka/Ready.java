// Waits until a Kafka broker answers a metadata request (Admin.listTopics), or fails after a deadline.
// Run with Java's source launcher: java -cp ".cache/lib/*" Ready.java 127.0.0.1:19092 60
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

public class Ready {
  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    long deadline = System.currentTimeMillis() + Long.parseLong(args.length > 1 ? args[1] : "60") * 1000;
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "3000");
    Exception last = null;
    while (System.currentTimeMillis() < deadline) {
      try (Admin admin = Admin.create(props)) {
        int topics = admin.listTopics().names().get(3, TimeUnit.SECONDS).size();
        String cluster = admin.describeCluster().clusterId().get(3, TimeUnit.SECONDS);
        System.out.println("ready: cluster " + cluster + ", " + topics + " topics");
        return;
      } catch (Exception e) {
        last = e;
        Thread.sleep(500);
      }
    }
    System.err.println("broker at " + bootstrap + " did not answer a metadata request: " + last);
    System.exit(1);
  }
}
